"""Room-level accuracy of the location engine against two baselines, on simulated wards.

    .venv/bin/python benchmarks/location_accuracy.py            # the full run (a few minutes)
    .venv/bin/python benchmarks/location_accuracy.py --quick    # 1 seed, 20 minutes per run

Scenarios (synthetic floors generated here, never the demo data; see benchmarks/layouts.py):
  A         a receiver in every room and corridor section, shadowing sigma 4 dB
  B         a receiver in every other room and corridor section, shadowing sigma 6 dB
  clock     A with gateway clocks off by up to +-2 s, drifting up to 20 ppm (no NTP)
  late      A with half the gateway batches delivered 1-10 s late, hence out of order
  slow      A with every tag pinging every 5 s (issue 12: how soon a move is shown)
  third     A with one receiver per three rooms: the receiver layout of sparse, alone
  sparse    one receiver per three rooms, sigma 5 dB, receivers off their rssi_at_1m by N(0, 3 dB),
            25 % packet loss, each tag pinging every 5-10 s
  walls     a receiver in every other room (sigma 5 dB) in a building whose walls cost 7 dB and whose
            signal falls off with exponent 2.4, where the engine is configured for 4 dB and 2.2
  walls_sparse  sparse in that building
  walls_sparse_busy  walls_sparse with the shadowing of a busy ward, none of it tied to the tag's spot: the
            configured radio is what is wrong, not the noise (issue 11's held-out sparse row looks like this)
  combined  A with all of it: clocks, late batches, 5 % of batches delivered twice, receivers dark for
            2-10 minutes, equipment parked in the corridor at a door, loss, calibration error, slow pings
each on two layouts: a double-loaded corridor floor, and two stacked racetrack floors.

The simulator (locations/simulator.py) writes what the gateways hear; its GatewayDelivery hands the
gateway batches over in ARRIVAL order, as a real network delivers them. The engine gets only the
sightings (never the truth) and is flushed once a second on the wall clock, as the live pipeline does.
The baselines see each transmission as sent (true times, no delivery problems): they are an upper bound
of what those methods could do. Figures:
  settled   share of pings more than 16 s after the tag's last true room change placed in the true room
            (the room shown at that ping: the latest estimate at or before it)
  true/h    true room changes per asset-hour (every room entered, corridor sections included)
  shown/h   room changes the method showed per asset-hour
  false/h   shown changes that match no true change (into the same room, at most 60 s earlier or 2 s
            later; each true change matches at most one shown change)
  latency   event time from a real move (entering a room the tag then stays in for >= 30 s) until the
            method first shows that room; median and p90 over moves, a move never shown counts as infinite
Baselines: the strongest receiver's room per ping, and a majority vote over the last 5 pings of that.
Times are event time; the live pipeline adds its flush delay (the engine's allowed lateness, ~2 s).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shapely.geometry import Point, Polygon

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.layouts import build_plan  # noqa: E402
from locations.engine import EngineConfig, LocationEngine, Sighting  # noqa: E402
from locations.simulator import DeliveryModel, GatewayDelivery, MotionModel, RadioModel, Simulator  # noqa: E402

SETTLED_AFTER_S = 16.0
REAL_MOVE_STAY_S = 30.0
MATCH_BEFORE_S = 60.0
MATCH_AFTER_S = 2.0
START = 1_800_000_000.0

# Real-network conditions (issue 11). Each is "everything else as in A" unless it says otherwise.
CLOCKS = {"gateway_clock_offset_s": 2.0, "gateway_clock_drift_ppm": 20.0}  # no NTP: +-2 s, drifting
LATE = {"late_share": 0.5, "late_s": (1.0, 10.0)}  # half the batches 1-10 s late, so out of order
HARSH_RADIO = {"packet_loss": 0.25, "receiver_offset_sigma_db": 3.0}  # 25 % loss, receivers several dB off
SLOW_PINGS = {"ping_interval_range_s": (5.0, 10.0)}
# A building whose radio is not the engine's configured one (2.2 and 4 dB per wall): thick walls and a
# faster fall-off, as in older buildings with concrete partitions. The engine learns it (radio_fit).
HEAVY_WALLS = {"wall_loss_db": 7.0, "path_loss_exponent": 2.4}
SCENARIOS = {
    "A": {"receivers": "every", "sigma": 4.0, "targets": {"settled": 0.99, "false_ratio": 1.3}},
    "B": {"receivers": "every_other", "sigma": 6.0, "targets": {"settled": 0.95}},
    "clock": {
        "about": "A with gateway clocks off by up to +-2 s and drifting up to 20 ppm",
        "receivers": "every",
        "sigma": 4.0,
        "radio": CLOCKS,
        "targets": {"settled": 0.98, "shown_ratio": 1.5},
    },
    "late": {
        "about": "A with half the gateway batches delivered 1-10 s late (out of order)",
        "receivers": "every",
        "sigma": 4.0,
        "delivery": LATE,
        "targets": {"settled": 0.98, "shown_ratio": 1.5},
    },
    "slow": {
        "about": "A with every tag pinging every 5 s (issue 12: how soon a move is shown)",
        "receivers": "every",
        "sigma": 4.0,
        "motion": {"ping_interval_s": 5.0},
        "targets": {"settled": 0.98, "shown_ratio": 1.5},
    },
    "third": {
        "about": "A with one receiver per three rooms (the receiver layout of sparse, alone)",
        "receivers": "every_third",
        "sigma": 4.0,
        "targets": {"settled": 0.97, "shown_ratio": 1.5},
    },
    "sparse": {
        "about": "one receiver per three rooms, sigma 5 dB, receivers off their rssi_at_1m by N(0, 3 dB), 25 % loss, "
        "pings every 5-10 s",
        "receivers": "every_third",
        "sigma": 5.0,
        "radio": HARSH_RADIO,
        "motion": SLOW_PINGS,
        "targets": {"settled": 0.97, "shown_ratio": 1.5},
    },
    "walls": {
        "about": "a receiver in every other room, sigma 5 dB, in a building whose walls cost 7 dB and whose signal "
        "falls off with exponent 2.4 (the engine is configured for 4 dB and 2.2)",
        "receivers": "every_other",
        "sigma": 5.0,
        "radio": HEAVY_WALLS,
        "targets": {"settled": 0.97, "shown_ratio": 1.5},
    },
    "walls_sparse": {
        "about": "sparse in that building: one receiver per three rooms, sigma 5 dB, receivers off by N(0, 3 dB), "
        "25 % loss, pings every 5-10 s, walls 7 dB, exponent 2.4",
        "receivers": "every_third",
        "sigma": 5.0,
        "radio": {**HARSH_RADIO, **HEAVY_WALLS},
        "motion": SLOW_PINGS,
        "targets": {"settled": 0.97, "shown_ratio": 1.5},
    },
    "walls_sparse_busy": {
        "about": "walls_sparse with the shadowing of a busy ward (people walking by; none of it tied to the tag's "
        "spot): the engine's configured radio is what is wrong, not the noise. The configured model places 89.9 %, "
        "the true one 98.4 %: issue 11's held-out row (94.9 % landed, 99.35 % for a true-radio model) is a world "
        "like this one",
        "receivers": "every_third",
        "sigma": 5.0,
        "radio": {**HARSH_RADIO, **HEAVY_WALLS, "shadowing_static_share": 0.0},
        "motion": SLOW_PINGS,
        "targets": {"settled": 0.97, "shown_ratio": 1.5},
    },
    "combined": {
        "about": "A with everything at once: clocks +-2 s and drifting, half the batches 1-10 s late, 5 % "
        "delivered twice, receivers dark for 2-10 min (2 outages per receiver-hour), half the corridor parking "
        "at a door, 25 % loss, receivers off by N(0, 3 dB), pings every 5-10 s",
        "receivers": "every",
        "sigma": 4.0,
        "radio": {**CLOCKS, **HARSH_RADIO, "outages_per_hour": 2.0, "outage_s": (120.0, 600.0)},
        "motion": {**SLOW_PINGS, "corridor_door_share": 0.5},
        "delivery": {**LATE, "duplicate_share": 0.05},
        "targets": {"settled": 0.97, "shown_ratio": 1.5},
    },
}
LAYOUTS = ["double_loaded", "racetrack2"]
METHODS = ["engine", "strongest", "vote5"]


@dataclass
class Figures:
    settled_ok: int = 0
    settled_n: int = 0
    true_changes: int = 0
    shown_changes: int = 0
    false_changes: int = 0
    asset_hours: float = 0.0
    latencies: list[float] = field(default_factory=list)
    settled_pairs: Counter = field(default_factory=Counter)  # (true room code, shown room code) per settled ping

    def add(self, other: Figures) -> None:
        self.settled_pairs.update(other.settled_pairs)
        self.settled_ok += other.settled_ok
        self.settled_n += other.settled_n
        self.true_changes += other.true_changes
        self.shown_changes += other.shown_changes
        self.false_changes += other.false_changes
        self.asset_hours += other.asset_hours
        self.latencies.extend(other.latencies)

    @property
    def settled(self) -> float:
        return self.settled_ok / self.settled_n if self.settled_n else float("nan")

    def per_hour(self, count: int) -> float:
        return count / self.asset_hours if self.asset_hours else float("nan")

    def latency(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        values = np.sort(np.array(self.latencies))
        k = min(len(values) - 1, int(math.ceil(q * len(values))) - 1)
        return float(values[max(k, 0)])


def receiver_rooms(plan) -> dict[str, int]:
    rooms = {}
    for rx in plan.receivers:
        for room in plan.rooms:
            if room.floor_id == rx.floor_id and Polygon(room.exterior).buffer(0.01).contains(Point(rx.x, rx.y)):
                rooms[rx.gateway_id] = room.room_id
                break
    return rooms


def run_once(layout: str, scenario: str, seed: int, *, assets: int, seconds: int) -> tuple[dict[str, Figures], dict]:
    spec = SCENARIOS[scenario]
    plan = build_plan(layout, receivers=spec["receivers"], seed=seed)
    radio = RadioModel(shadowing_sigma_db=spec["sigma"], **spec.get("radio", {}))
    motion = MotionModel(**spec.get("motion", {}))
    sim = Simulator(plan, [f"c3{n:010x}" for n in range(assets)], start_ts=START, seed=seed, radio=radio, motion=motion)
    delivery = GatewayDelivery(DeliveryModel(**spec.get("delivery", {})), seed=seed + 1000)
    engine = LocationEngine(plan, EngineConfig())
    rx_room = receiver_rooms(plan)

    pings: dict[str, list[tuple[float, int]]] = defaultdict(list)  # tag -> (ts, true room)
    shown: dict[str, dict[str, list[tuple[float, int]]]] = {m: defaultdict(list) for m in METHODS}
    votes: dict[str, deque] = defaultdict(lambda: deque(maxlen=5))
    sightings_total = 0
    engine_seconds = 0.0
    for _ in range(seconds):
        transmissions = sim.advance(1.0)
        delivery.send(transmissions, now=sim.now)
        # What reached the server by now, in ARRIVAL order (one gateway body after another).
        batch = [
            Sighting(b.gateway_id, tag, float(rssi), ts, battery)
            for b in delivery.due(sim.now)
            for tag, rssi, ts, battery in b.sightings
        ]
        for tx in transmissions:
            pings[tx.tag_id].append((tx.ts, tx.room_id))
            if tx.receptions:
                best = max(tx.receptions, key=lambda r: r.rssi)
                room = rx_room[best.gateway_id]
                shown["strongest"][tx.tag_id].append((tx.ts, room))
                window = votes[tx.tag_id]
                window.append(room)
                counts = Counter(window)
                top = max(counts.values())
                winner = next(r for r in reversed(window) if counts[r] == top)  # ties: the most recent
                shown["vote5"][tx.tag_id].append((tx.ts, winner))
        sightings_total += len(batch)
        started = time.perf_counter()
        engine.push(batch)
        for estimate in engine.flush(sim.now):  # the live pipeline flushes on the wall clock
            shown["engine"][estimate.tag_id].append((estimate.ts, estimate.room_id))
        engine_seconds += time.perf_counter() - started
    started = time.perf_counter()
    rest = [Sighting(b.gateway_id, t, float(r), ts, bt) for b in delivery.drain() for t, r, ts, bt in b.sightings]
    sightings_total += len(rest)
    engine.push(rest)
    for estimate in engine.flush(None):
        shown["engine"][estimate.tag_id].append((estimate.ts, estimate.room_id))
    engine_seconds += time.perf_counter() - started

    truth: dict[str, list[tuple[float, int | None]]] = defaultdict(list)
    for change in sim.drain_truth():
        truth[change.tag_id].append((change.ts, change.room_id))
    names = {r.room_id: r.code for r in plan.rooms}
    figures = {m: score(truth, pings, shown[m], seconds, names) for m in METHODS}
    info = {
        "sightings": sightings_total,
        "engine_s": engine_seconds,
        "pings": sum(len(p) for p in pings.values()),
        "drops": _drops(engine),
        "accepted": engine.stats.accepted,
        "clocks": engine.gateway_clocks() if hasattr(engine, "gateway_clocks") else {},
        "true_offsets": _true_offsets(sim),
    }
    return figures, info


def _drops(engine) -> dict[str, int]:
    stats = engine.stats
    if hasattr(stats, "drops"):
        return stats.drops()
    # an engine from before the drops() API (to compare against the landed one)
    return {"duplicate": stats.duplicates, "late": stats.late, "unknown_gateway": stats.unknown_gateway}


def _true_offsets(sim: Simulator) -> dict[str, float]:
    out = {}
    for building in sim.buildings.values():
        for i, gateway_id in enumerate(building.rx_ids):
            out[gateway_id] = float(building.rx_skew[i]) + float(building.rx_drift[i]) * (sim.now - sim.start_ts)
    return out


def _clock_error(info) -> float:
    """Largest error of the engine's clock estimates at the end, relative to the median gateway."""
    est = {g: c.offset_s for g, c in info["clocks"].items() if c.estimated}
    if not est:
        return float("nan")
    true = info["true_offsets"]
    diffs = np.array([est[g] - true[g] for g in est])
    return float(np.abs(diffs - np.median(diffs)).max())


def _changes(timeline: list[tuple[float, int]]) -> list[tuple[float, int]]:
    out, current = [], None
    for ts, room in timeline:
        if room != current:
            if current is not None:
                out.append((ts, room))
            current = room
    return out


def score(truth, pings, shown, seconds, names) -> Figures:
    fig = Figures()
    for tag, tag_pings in pings.items():
        fig.asset_hours += seconds / 3600.0
        changes_true = [(ts, room) for ts, room in truth[tag] if room is not None]
        true_rooms = _changes(changes_true)
        change_times = np.array([ts for ts, _ in changes_true])  # includes the initial placement
        timeline = sorted(shown.get(tag, []))
        times = np.array([ts for ts, _ in timeline])
        rooms = [room for _, room in timeline]

        # settled accuracy, per ping
        for ts, room in tag_pings:
            last_change = change_times[np.searchsorted(change_times, ts, side="right") - 1]
            if ts - last_change <= SETTLED_AFTER_S:
                continue
            k = np.searchsorted(times, ts + 0.05, side="right") - 1
            fig.settled_n += 1
            fig.settled_ok += int(k >= 0 and rooms[k] == room)
            fig.settled_pairs[(names[room], names.get(rooms[k]) if k >= 0 else None)] += 1

        # changes, matched one to one
        shown_changes = _changes(timeline)
        fig.true_changes += len(true_rooms)
        fig.shown_changes += len(shown_changes)
        used = [False] * len(true_rooms)
        for ts, room in shown_changes:
            match = None
            for i, (t_true, r_true) in enumerate(true_rooms):
                if used[i] or r_true != room:
                    continue
                if ts - MATCH_BEFORE_S <= t_true <= ts + MATCH_AFTER_S:
                    match = i
                    break
            if match is None:
                fig.false_changes += 1
            else:
                used[match] = True

        # latency of real moves
        for i, (t_true, room) in enumerate(true_rooms):
            t_next = true_rooms[i + 1][0] if i + 1 < len(true_rooms) else math.inf
            stay = min(t_next, START + seconds) - t_true
            if stay < REAL_MOVE_STAY_S:
                continue
            k = np.searchsorted(times, t_true - 0.05, side="left")
            before = k - 1
            if before >= 0 and rooms[before] == room and times[before] >= t_true - MATCH_BEFORE_S:
                fig.latencies.append(0.0)  # already shown (the engine guessed early)
                continue
            latency = math.inf
            while k < len(times) and times[k] < t_next:
                if rooms[k] == room:
                    latency = float(times[k] - t_true)
                    break
                k += 1
            fig.latencies.append(max(latency, 0.0))
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--assets", type=int, default=30, help="tags per run")
    parser.add_argument("--minutes", type=float, default=60.0, help="simulated time per run")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--quick", action="store_true", help="1 seed, 20 minutes per run")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.minutes = 1, 20.0
    seconds = int(args.minutes * 60)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    layouts = [s.strip() for s in args.layouts.split(",") if s.strip()]

    print(
        f"location_accuracy: {args.assets} tags x {args.minutes:g} min per run, seeds 1..{args.seeds}, "
        f"layouts {', '.join(layouts)}; engine defaults (EngineConfig()), simulator defaults (RadioModel, MotionModel)"
    )
    verdicts = []
    for scenario in scenarios:
        spec = SCENARIOS[scenario]
        print(
            f"\nScenario {scenario}: receivers {spec['receivers'].replace('_', ' ')}, "
            f"shadowing sigma {spec['sigma']:g} dB" + (f"; {spec['about']}" if "about" in spec else "")
        )
        drops = Counter()
        accepted = 0
        total = {m: Figures() for m in METHODS}
        per_seed_settled = {m: [] for m in METHODS}
        for layout in layouts:
            by_layout = {m: Figures() for m in METHODS}
            for seed in range(1, args.seeds + 1):
                started = time.perf_counter()
                figures, info = run_once(layout, scenario, seed, assets=args.assets, seconds=seconds)
                drops.update(info["drops"])
                accepted += info["accepted"]
                clock_note = ""
                if "radio" in spec and "gateway_clock_offset_s" in spec["radio"]:
                    clock_note = f"; clock estimates within {_clock_error(info) * 1000:.0f} ms"
                for m in METHODS:
                    by_layout[m].add(figures[m])
                    total[m].add(figures[m])
                    per_seed_settled[m].append(figures[m].settled)
                print(
                    f"  {layout:<14} seed {seed}: {info['pings']:,} pings, {info['sightings']:,} sightings, engine "
                    f"{info['sightings'] / max(info['engine_s'], 1e-9):,.0f} sightings/s; settled engine "
                    f"{figures['engine'].settled:.2%} strongest {figures['strongest'].settled:.2%} "
                    f"vote5 {figures['vote5'].settled:.2%}{clock_note}  ({time.perf_counter() - started:.0f} s)"
                )
            print_table(f"{scenario} / {layout}", by_layout)
        print_table(f"{scenario} / all layouts (mean over {args.seeds} seeds x {len(layouts)} layouts)", total)
        print_detail(scenario, total["engine"], layouts)
        pushed = accepted + sum(drops.values())
        lost = sum(n for reason, n in drops.items() if reason != "duplicate")
        print(
            f"  engine drops: {lost:,} of {pushed:,} sightings pushed ({lost / max(pushed, 1):.3%}) not placed; "
            + ", ".join(f"{reason} {n:,}" for reason, n in sorted(drops.items()))
        )
        verdicts.extend(check(scenario, spec["targets"], total, per_seed_settled))
    print("\nTargets:")
    for line in verdicts:
        print("  " + line)
    return 0


def seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f}s"


def print_table(title: str, figures: dict[str, Figures]) -> None:
    print(f"  {title}")
    print(f"    {'method':<10} {'settled':>8} {'true/h':>7} {'shown/h':>8} {'false/h':>8} {'false/true':>10} "
          f"{'shown/true':>10} {'lat p50':>8} {'lat p90':>8} {'moves':>6} {'never':>6}")  # fmt: skip
    for method, fig in figures.items():
        true_h = fig.per_hour(fig.true_changes)
        print(
            f"    {method:<10} {fig.settled:>8.2%} {true_h:>7.2f} {fig.per_hour(fig.shown_changes):>8.2f} "
            f"{fig.per_hour(fig.false_changes):>8.2f} {fig.false_changes / max(fig.true_changes, 1):>10.2f} "
            f"{fig.shown_changes / max(fig.true_changes, 1):>10.2f} "
            f"{seconds(fig.latency(0.5)):>8} {seconds(fig.latency(0.9)):>8} "
            f"{len(fig.latencies):>6} {sum(1 for v in fig.latencies if math.isinf(v)):>6}"
        )


def print_detail(scenario: str, engine: Figures, layouts: list[str]) -> None:
    """Where the engine's settled pings go wrong: by kind of true room, and the commonest confusions."""
    spec = SCENARIOS[scenario]
    kinds: dict[str, tuple[str, bool]] = {}
    for layout in layouts:
        plan = build_plan(layout, receivers=spec["receivers"])
        with_receiver = set(receiver_rooms(plan).values())
        for room in plan.rooms:
            kind = "corridor" if room.room_type == "corridor" else "room"
            kinds[room.code] = (kind, room.room_id in with_receiver)
    groups: dict[tuple[str, bool], list[int]] = defaultdict(lambda: [0, 0])
    for (true_code, shown_code), n in engine.settled_pairs.items():
        group = groups[kinds[true_code]]
        group[0] += n * (true_code == shown_code)
        group[1] += n
    print("  engine, settled pings by true room:")
    for (kind, has_rx), (ok, n) in sorted(groups.items()):
        label = f"{kind}, {'with' if has_rx else 'without'} its own receiver"
        print(f"    {label:<38} {ok / n:>8.2%} of {n:,} pings")
    wrong = [(pair, n) for pair, n in engine.settled_pairs.items() if pair[0] != pair[1]]
    wrong.sort(key=lambda item: -item[1])
    total_wrong = sum(n for _, n in wrong) or 1
    shown = ", ".join(f"{t} shown as {s} {n / total_wrong:.0%}" for (t, s), n in wrong[:6])
    print(f"  engine, commonest settled errors (share of the errors): {shown}")


def check(scenario, targets, total, per_seed_settled) -> list[str]:
    engine = total["engine"]
    lines = []
    if "settled" in targets:
        ok = engine.settled >= targets["settled"]
        lines.append(
            f"{scenario}: settled {engine.settled:.2%} >= {targets['settled']:.0%}: {'met' if ok else 'MISSED'}"
        )
    if "shown_ratio" in targets:
        shown_ratio = engine.shown_changes / max(engine.true_changes, 1)
        ok = shown_ratio <= targets["shown_ratio"]
        lines.append(
            f"{scenario}: shown changes {shown_ratio:.2f} x true <= {targets['shown_ratio']:g}: "
            f"{'met' if ok else 'MISSED'}"
        )
    if "false_ratio" in targets:
        ratio = engine.false_changes / max(engine.true_changes, 1)
        shown_ratio = engine.shown_changes / max(engine.true_changes, 1)
        ok = ratio <= targets["false_ratio"]
        lines.append(
            f"{scenario}: false changes {ratio:.2f} x true <= {targets['false_ratio']:g}: {'met' if ok else 'MISSED'} "
            f"(shown changes {shown_ratio:.2f} x true)"
        )
    median = engine.latency(0.5)
    lines.append(f"{scenario}: median move latency {median:.1f} s <= 6 s: {'met' if median <= 6 else 'MISSED'}")
    for baseline in ("strongest", "vote5"):
        other = total[baseline]
        ahead = engine.settled > other.settled and engine.false_changes < other.false_changes
        lines.append(
            f"{scenario}: engine ahead of {baseline} (settled {engine.settled:.2%} vs {other.settled:.2%}, false/h "
            f"{engine.per_hour(engine.false_changes):.2f} vs {other.per_hour(other.false_changes):.2f}): "
            f"{'yes' if ahead else 'NO'}"
        )
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
