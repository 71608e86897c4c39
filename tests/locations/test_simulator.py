"""The RTLS simulator: radio physics, motion, ground truth and the gateway bodies it writes (no database),
then manage.py simulate_rtls on the hospital in the database."""

import io
import json
from collections import Counter, defaultdict
from dataclasses import replace

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from assets.models import Asset
from declarations.tag_ids import normalize_tag_id
from locations.engine.parsing import parse_batch, parse_timestamp
from locations.engine.types import FloorGeom, ReceiverGeom, RoomGeom, SitePlan
from locations.simulator import MotionModel, RadioModel, SimTag, Simulator, format_ts, gateway_bodies
from tests.factories import ReceiverFactory, RoomFactory
from tests.locations.sim_hospital import make_ward, tagged_asset

T0 = 1_795_000_000.0
QUIET = RadioModel(
    shadowing_sigma_db=0.0,
    fast_fading_sigma_db=0.0,
    deep_fade_probability=0.0,
    packet_loss=0.0,
    receiver_offset_sigma_db=0.0,
)
STILL = MotionModel(rest_bounds_s=(1e6, 1e6), mobile_share=0.0, low_battery_share=0.0)

# The same ward as sim_hospital.py: A | B | C on the south side of a corridor, an exit at its east end,
# and the same layout on the floor above (ids + 10).
BOXES = {
    1: ("A", "patient", (0, 0, 5, 5)),
    2: ("B", "patient", (5, 0, 10, 5)),
    3: ("C", "patient", (10, 0, 15, 5)),
    4: ("COR", "corridor", (0, 5, 15, 7.5)),
    5: ("EXIT", "exit", (15, 5, 17.5, 7.5)),
}


def ring(x0, y0, x1, y1):
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))


def ward_plan(*, upstairs=False, receivers=None) -> SitePlan:
    floors = [FloorGeom(floor_id=1, building_id=1, level=0)]
    rooms, gateways = [], []
    levels = [(1, 0)] + ([(2, 10)] if upstairs else [])
    if upstairs:
        floors.append(FloorGeom(floor_id=2, building_id=1, level=1))
    for floor_id, offset in levels:
        for room_id, (code, kind, box) in BOXES.items():
            rooms.append(RoomGeom(room_id + offset, floor_id, f"{code}{floor_id}", kind, ring(*box)))
            if receivers is None or code in receivers:
                x0, y0, x1, y1 = box
                gateways.append(
                    ReceiverGeom(f"gw-{code.lower()}{floor_id}", floor_id, (x0 + x1) / 2, (y0 + y1) / 2, -59.0)
                )
    return SitePlan(floors=tuple(floors), rooms=tuple(rooms), receivers=tuple(gateways))


def run(sim: Simulator, seconds: int) -> list:
    out = []
    for _ in range(seconds):
        out.extend(sim.advance(1.0))
    return out


def mean_rssi(transmissions) -> dict[str, float]:
    heard = defaultdict(list)
    for tx in transmissions:
        for rx in tx.receptions:
            heard[rx.gateway_id].append(rx.rssi)
    return {gateway: float(np.mean(values)) for gateway, values in heard.items()}


def test_walls_and_floors_attenuate_by_the_model():
    sim = Simulator(
        ward_plan(upstairs=True), [SimTag("c30000000001", start_room_id=2)], start_ts=T0, radio=QUIET, motion=STILL
    )
    tag = sim.tags[0]
    tag.x, tag.y = 7.5, 2.5  # right under gw-b1
    heard = mean_rssi(run(sim, 20))
    # gw-a1 and gw-c1 are 5 m away through one wall; gw-cor1 is ~3.75 m away through one wall;
    # gw-b2 is right above, through the slab.
    same_distance = heard["gw-a1"] - heard["gw-c1"]
    assert abs(same_distance) < 0.6
    model = -59 - 20 * np.log10(np.hypot(5.0, 1.7)) - 5.0
    assert heard["gw-a1"] == pytest.approx(model, abs=0.6)
    assert heard["gw-b1"] == pytest.approx(-59 - 20 * np.log10(1.7), abs=0.6)
    upstairs = -59 - 20 * np.log10(4.0 + 1.7) - 18.0
    assert heard["gw-b2"] == pytest.approx(upstairs, abs=0.6)
    # The line to gw-exit1 crosses B|C, C|COR and COR|EXIT: three walls.
    exit_model = -59 - 20 * np.log10(np.hypot(np.hypot(16.25 - 7.5, 6.25 - 2.5), 1.7)) - 15.0
    assert heard["gw-exit1"] == pytest.approx(exit_model, abs=0.6)


def test_a_resting_tag_is_loudest_at_its_own_rooms_receiver_despite_noise():
    sim = Simulator(ward_plan(), [SimTag("c30000000001", start_room_id=1)], start_ts=T0, seed=3, motion=STILL)
    transmissions = run(sim, 600)
    heard = mean_rssi(transmissions)
    assert max(heard, key=heard.get) == "gw-a1"
    loudest = Counter(max(tx.receptions, key=lambda r: r.rssi).gateway_id for tx in transmissions if tx.receptions)
    assert loudest.most_common(1)[0][0] == "gw-a1"
    # ...but noise, fades and loss make the single loudest receiver wrong now and then.
    assert 0.02 < 1 - loudest["gw-a1"] / sum(loudest.values()) < 0.6
    assert all(tx.room_id == 1 for tx in transmissions)


def test_packet_loss_and_deep_fades_show_in_what_is_heard():
    lossy = replace(QUIET, packet_loss=0.5)
    sim = Simulator(
        ward_plan(), [SimTag("c30000000001", start_room_id=2)], start_ts=T0, seed=1, radio=lossy, motion=STILL
    )
    transmissions = run(sim, 400)
    own = sum(1 for tx in transmissions for rx in tx.receptions if rx.gateway_id == "gw-b1")
    assert 0.4 < own / len(transmissions) < 0.6

    fading = replace(QUIET, deep_fade_probability=0.2, deep_fade_db=(15.0, 25.0))
    sim = Simulator(
        ward_plan(), [SimTag("c30000000001", start_room_id=2)], start_ts=T0, seed=1, radio=fading, motion=STILL
    )
    values = [rx.rssi for tx in run(sim, 400) for rx in tx.receptions if rx.gateway_id == "gw-b1"]
    median = np.median(values)
    deep = sum(1 for v in values if v < median - 10)
    assert 0.1 < deep / len(values) < 0.3


def test_pings_every_interval_with_battery_and_gateway_clock_stamps():
    motion = replace(STILL, ping_interval_s=2.0)
    sim = Simulator(ward_plan(), ["c30000000001", "c30000000002"], start_ts=T0, seed=2, motion=motion)
    transmissions = run(sim, 60)
    per_tag = Counter(tx.tag_id for tx in transmissions)
    assert set(per_tag.values()) <= {29, 30, 31}
    for tx in transmissions:
        assert 0 <= tx.battery <= 100
        for rx in tx.receptions:
            assert abs(rx.ts - tx.ts) < 0.05
            assert -120 <= rx.rssi <= 0 and isinstance(rx.rssi, int)


def test_same_seed_same_output_different_seed_different():
    def fingerprint(seed):
        sim = Simulator(ward_plan(), ["c30000000001", "c30000000002"], start_ts=T0, seed=seed)
        return [(tx.tag_id, round(tx.ts, 6), tuple(tx.receptions)) for tx in run(sim, 120)]

    assert fingerprint(7) == fingerprint(7)
    assert fingerprint(7) != fingerprint(8)


def test_a_scripted_move_goes_through_the_corridor_and_truth_records_it():
    tag = SimTag("c30000000001", start_room_id=1, itinerary=((30.0, 3),))
    sim = Simulator(ward_plan(), [tag], start_ts=T0, seed=1)
    transmissions = run(sim, 90)
    truth = sim.drain_truth()
    assert [c.room_code for c in truth] == ["A1", "COR1", "C1"]
    assert truth[0].ts == T0
    assert T0 + 30 < truth[1].ts < truth[2].ts < T0 + 50  # ~13 m at walking pace
    # The true room in each transmission agrees with the truth changes.
    for tx in transmissions:
        current = [c for c in truth if c.ts <= tx.ts][-1]
        assert tx.room_id == {"A1": 1, "COR1": 4, "C1": 3}[current.room_code]
    assert sim.drain_truth() == []


def test_random_trips_use_corridors_not_patient_rooms():
    motion = replace(MotionModel(), mobile_share=1.0, mobile_rest_median_s=20.0, mobile_rest_bounds_s=(5.0, 40.0))
    sim = Simulator(ward_plan(), [f"c3000000000{n}" for n in range(4)], start_ts=T0, seed=5, motion=motion)
    run(sim, 1800)
    truth = sim.drain_truth()
    by_tag = defaultdict(list)
    for change in truth:
        by_tag[change.tag_id].append(change.room_code)
    moves = 0
    for rooms in by_tag.values():
        for before, after in zip(rooms, rooms[1:], strict=False):
            moves += 1
            # patient rooms only connect through the corridor: A -> B directly would be through a wall
            assert not (before in {"A1", "B1", "C1"} and after in {"A1", "B1", "C1"}), rooms
    assert moves > 20


def test_leaving_through_an_exit_stops_the_pings_until_it_comes_back():
    motion = replace(STILL, off_site_share=1.0, off_site_median_s=100.0)
    tag = SimTag("c30000000001", start_room_id=4, itinerary=((5.0, 5),))
    sim = Simulator(ward_plan(), [tag], start_ts=T0, seed=4, motion=motion)
    transmissions = run(sim, 2000)
    truth = sim.drain_truth()
    left = [c for c in truth if c.room_id is None]
    assert len(left) == 1
    back = [c for c in truth if c.ts > left[0].ts]
    assert back and back[0].room_code == "EXIT1"
    silent = [tx for tx in transmissions if left[0].ts < tx.ts < back[0].ts]
    assert silent == []


def test_gateway_bodies_are_valid_batches_one_per_gateway():
    sim = Simulator(ward_plan(), ["c30000000001", "c30000000002", "c30000000003"], start_ts=T0, seed=1)
    transmissions = sim.advance(1.0) + sim.advance(1.0)
    bodies = gateway_bodies(transmissions, sent_at=sim.now + 0.2, tag_format=lambda t: t.upper())
    gateways = [b["gateway"] for b in bodies]
    assert len(gateways) == len(set(gateways)) > 0
    total = sum(len(tx.receptions) for tx in transmissions)
    assert sum(len(b["sightings"]) for b in bodies) == total
    for b in bodies:
        assert set(b) == {"gateway", "sent_at", "sightings"}
        assert b["sent_at"].endswith("Z") and parse_timestamp(b["sent_at"]) == pytest.approx(sim.now + 0.2)
        parsed = parse_batch(b, known_gateways={b["gateway"]}, now=sim.now + 1)
        assert parsed.rejected == [] and len(parsed.accepted) == len(b["sightings"])
        for item in b["sightings"]:
            assert set(item) == {"tag", "rssi", "ts", "battery"}
            assert normalize_tag_id(item["tag"]) in {"c30000000001", "c30000000002", "c30000000003"}
        times = [parse_timestamp(item["ts"]) for item in b["sightings"]]
        assert times == sorted(times)


def test_format_ts_is_iso_utc_with_milliseconds():
    assert format_ts(T0 + 0.512) == "2026-11-18T11:06:40.512Z"
    assert format_ts(T0) == "2026-11-18T11:06:40.000Z"


def test_a_plan_without_receivers_is_refused():
    plan = ward_plan(receivers=set())
    with pytest.raises(ValueError, match="no receivers"):
        Simulator(plan, ["c30000000001"], start_ts=T0)


def test_busier_world_rests_shorter():
    busy = MotionModel().busier(10)
    assert busy.rest_median_s == MotionModel().rest_median_s / 10
    with pytest.raises(ValueError):
        MotionModel().busier(0)


# --- manage.py simulate_rtls: the simulator on the hospital in the database ----------------------------


@pytest.fixture
def tagged_ward(db):
    ward = make_ward()
    tagged_asset("c3000000010a", asset_tag="IP-00001", current_room=ward.rooms["B"])
    tagged_asset("c3000000010b", asset_tag="IP-00002")
    return ward


def simulate(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("simulate_rtls", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_command_writes_replayable_batches_and_a_separate_truth(tagged_ward, tmp_path):
    out_file, truth_file = tmp_path / "s.jsonl", tmp_path / "t.jsonl"
    out, _ = simulate(
        "--out", str(out_file), "--truth", str(truth_file), "--duration", "30", "--seed", "3",
        "--start", "2026-11-18T08:00:00Z",
    )  # fmt: skip
    bodies = [json.loads(line) for line in out_file.read_text().splitlines()]
    known = {"gw-a", "gw-b", "gw-c", "gw-cor", "gw-exit"}
    assert bodies and {b["gateway"] for b in bodies} <= known
    per_second = Counter((b["gateway"], b["sent_at"]) for b in bodies)
    assert set(per_second.values()) == {1}  # one body per gateway per second
    start = parse_timestamp("2026-11-18T08:00:00Z")
    for b in bodies:
        parsed = parse_batch(b, known_gateways=known, now=start + 31)
        assert parsed.rejected == []
        assert all(start <= s.ts < start + 31 for s in parsed.accepted)
        assert "room" not in json.dumps(b)  # nothing of the truth leaks into what gateways send
    truth = [json.loads(line) for line in truth_file.read_text().splitlines()]
    first = {t["asset_tag"]: t for t in truth if t["ts"] == "2026-11-18T08:00:00.000Z"}
    assert first["IP-00001"]["room"] == "B"  # starts where the database last saw it
    assert set(first) == {"IP-00001", "IP-00002"}
    assert "2 tags for 30 s" in out

    # the same seed writes the same file
    again = tmp_path / "again.jsonl"
    simulate("--out", str(again), "--truth", str(tmp_path / "t2.jsonl"), "--duration", "30", "--seed", "3",
             "--start", "2026-11-18T08:00:00Z")  # fmt: skip
    assert again.read_text() == out_file.read_text()


def test_command_live_feeds_the_pipeline(tagged_ward):
    out, _ = simulate("--live", "--duration", "4", "--assets", "1")
    assert "Simulating 1 tags" in out
    located = Asset.objects.get(asset_tag="IP-00001")
    assert located.last_seen is not None and located.current_room is not None
    assert Asset.objects.get(asset_tag="IP-00002").last_seen is None  # not simulated


@pytest.mark.parametrize(
    "args, message",
    [
        (["--out", "x.jsonl", "--duration", "5"], "--out needs --truth"),
        (["--out", "x.jsonl", "--truth", "t.jsonl"], "--out needs --duration"),
        (["--live", "--truth", "t.jsonl"], "--truth goes with --out"),
        (["--live", "--sigma", "-1"], "--sigma must be 0 dB or more"),
        (["--live", "--speed", "0"], "--speed must be more than 0"),
        (["--out", "x.jsonl", "--truth", "t.jsonl", "--duration", "5", "--start", "noon"], "is not an ISO 8601"),
    ],
)
def test_command_refuses_bad_options(tagged_ward, args, message):
    with pytest.raises(CommandError, match=message):
        simulate(*args)


def test_command_needs_receivers_and_tagged_assets(db):
    with pytest.raises(CommandError, match="no rooms or no active receivers"):
        simulate("--live", "--duration", "1")
    room = RoomFactory()
    ReceiverFactory(floor=room.floor)
    with pytest.raises(CommandError, match="No tag is bound to an asset"):
        simulate("--live", "--duration", "1")
