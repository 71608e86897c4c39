"""Utilisation, turnaround, downtime, missing-hours, idle fleet and hoarding: the SQL figures agree to the
second with a plain-Python recomputation from the exported transition log and room stays."""

import csv
import io
import random
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy
import pytest
from django.core.management import CommandError, call_command
from freezegun import freeze_time

from assets.models import Asset
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.biomed import utilisation
from lifecycle.biomed.models import TurnaroundCycle, UtilisationDay, UtilisationRollup
from lifecycle.biomed.reports import Period
from lifecycle.models import TransitionLog
from locations.models import RoomInterval
from tests.factories import AssetFactory, AssetTypeFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PERIOD = Period(date(2026, 11, 10), date(2026, 11, 19))  # [11-10 00:00, 11-20 00:00) UTC
CYCLE = ["available", "in_use", "soiled", "cleaning", "available"]
NAMES = {
    ("available", "in_use"): "start_use",
    ("in_use", "soiled"): "return",
    ("soiled", "cleaning"): "start_cleaning",
    ("cleaning", "available"): "finish_cleaning",
    ("cleaning", "biomed"): "finish_cleaning",
    ("biomed", "available"): "return_to_service",
}


def _log(asset, at, from_state, to_state):
    TransitionLog.objects.create(
        asset=asset, transition=NAMES[(from_state, to_state)], from_state=from_state, to_state=to_state, at=at
    )


@pytest.fixture
def history():
    rng = random.Random(16)
    pumps, beds = AssetTypeFactory(name="Infusion pump"), AssetTypeFactory(name="Bed")
    room = RoomFactory(unit="4 West")
    assets = []
    with freeze_time("2026-11-01"):
        for n in range(8):
            assets.append(
                AssetFactory(asset_tag=f"U-{n}", asset_type=pumps if n % 3 else beds, unit=["4 West", "ICU"][n % 2])
            )
    with freeze_time("2026-11-15 06:00:00"):  # created inside the period: counts from its creation
        late = AssetFactory(asset_tag="U-late", asset_type=pumps, unit="ICU")
    # Whole-second event times, from before the period to after its end (up to now).
    for asset in assets[:-1]:
        t = datetime(2026, 11, 5, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86_400))
        state = "available"
        while True:
            t += timedelta(seconds=rng.randint(600, 60 * 3600))
            if t > NOW:
                break
            if state == "cleaning" and rng.random() < 0.25:
                nxt = "biomed"
            elif state == "biomed":
                nxt = "available"
            else:
                nxt = CYCLE[CYCLE.index(state) + 1]
            _log(asset, t, state, nxt)
            state = nxt
        Asset.objects.filter(pk=asset.pk).update(state=state)
    # assets[-1] (U-7) has no transition at all: its current state all along.
    Asset.objects.filter(pk=assets[-1].pk).update(state="biomed")
    _log(late, datetime(2026, 11, 16, 9, 30, 15, tzinfo=UTC), "available", "in_use")
    Asset.objects.filter(pk=late.pk).update(state="in_use")
    # Missing periods: one across the period's start, one open, one entirely before.
    for asset, created, resolved in [
        (assets[0], datetime(2026, 11, 9, 20, 0, tzinfo=UTC), datetime(2026, 11, 10, 2, 30, 5, tzinfo=UTC)),
        (assets[1], datetime(2026, 11, 19, 22, 0, tzinfo=UTC), None),
        (assets[2], datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC)),
    ]:
        Alert.objects.create(
            kind="missing",
            asset=asset,
            message="m",
            created_at=created,
            resolved_at=resolved,
            status="resolved" if resolved else "new",
        )
    # Room stays: who has not moved for 7 days.
    for n, asset in enumerate([*assets, late]):
        RoomInterval.objects.create(asset=asset, room=room, entered_at=NOW - timedelta(days=3 + 2 * n))
    return assets + [late]


def _export(command, **options) -> list[dict]:
    out = io.StringIO()
    call_command(command, stdout=out, **options)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def recompute(assets):
    """The figures by plain interval arithmetic from the export (and each asset's creation time and type)."""
    log = defaultdict(list)
    for row in _export("export_transition_log"):
        log[row["asset_tag"]].append((_parse(row["at"]), row["from_state"], row["to_state"]))
    ps, pe = PERIOD.start_at, PERIOD.end_at
    seconds = defaultdict(lambda: defaultdict(int))
    cycles = defaultdict(list)
    for asset in assets:
        key = (asset.asset_type.name, asset.unit)
        events = sorted(log[asset.asset_tag], key=lambda e: e[0])
        before = [e for e in events if e[0] < ps]
        inside = [e for e in events if ps <= e[0] < pe]
        after = [e for e in events if e[0] >= ps]
        state = before[-1][2] if before else after[0][1] if after else Asset.objects.get(pk=asset.pk).state
        cursor = max(ps, asset.created_at)
        for at, _, to_state in inside:
            seconds[key][state] += int((at - cursor).total_seconds())
            cursor, state = at, to_state
        seconds[key][state] += int((pe - cursor).total_seconds())
        soiled_at = last_available = None
        for at, _, to_state in events:
            if at >= pe:
                break
            if to_state == "soiled":
                soiled_at = at
            if to_state == "available":
                if at >= ps and soiled_at and (last_available is None or last_available < soiled_at):
                    cycles[key].append((at - soiled_at).total_seconds())
                last_available = at
    missing = defaultdict(int)
    for alert in Alert.objects.filter(kind__in=["missing", "left_site"]).select_related("asset__asset_type"):
        start, end = max(alert.created_at, ps), min(alert.resolved_at or NOW, pe)
        if end > start:
            missing[(alert.asset.asset_type.name, alert.asset.unit)] += int((end - start).total_seconds())
    return seconds, cycles, missing


@pytest.mark.parametrize("rolled_up_until", [None, "2026-11-09", "2026-11-14", "2026-11-19"])
@pytest.mark.parametrize("computed_by", ["database", "python"])
@freeze_time(NOW)
def test_figures_agree_to_the_second_with_a_recount_from_the_export(history, rolled_up_until, computed_by, monkeypatch):
    """All live; rolled up before the period; half rolled up, half live; the whole period rolled up. "python" is
    the embedded default's computation (SQLite), forced on PostgreSQL too, so both are checked on either."""
    if computed_by == "python":
        monkeypatch.setattr(utilisation, "_postgres", lambda: False)
    if rolled_up_until:
        out = io.StringIO()
        call_command("rollup_utilisation", until=rolled_up_until, stdout=out)
        assert "day(s) rolled up" in out.getvalue()
    seconds, cycles, missing = recompute(history)
    rows = {(r.asset_type, r.unit): r for r in utilisation.utilisation(period=PERIOD)}
    assert set(rows) == set(seconds)
    for key, row in rows.items():
        assert row.seconds == {s: v for s, v in seconds[key].items() if v}, key
        assert sum(row.seconds.values()) == sum(seconds[key].values())
        assert row.downtime_seconds == seconds[key].get("biomed", 0)
        assert row.in_use_share == pytest.approx(seconds[key].get("in_use", 0) / sum(seconds[key].values()))
        assert row.turnarounds == len(cycles[key])
        if cycles[key]:
            assert round(row.turnaround_median_s) == round(numpy.percentile(cycles[key], 50))
            assert round(row.turnaround_p90_s) == round(numpy.percentile(cycles[key], 90))
        assert row.missing_seconds == missing.get(key, 0)
    assert sum(len(c) for c in cycles.values()) >= 5  # the history really has turnarounds
    assert sum(missing.values()) == 2 * 3600 + 30 * 60 + 5 + 2 * 3600  # 00:00-02:30:05, and 22:00-24:00
    # The asset created inside the period counts from its creation only.
    late = rows[("Infusion pump", "ICU")]
    assert sum(late.seconds.values()) == sum(seconds[("Infusion pump", "ICU")].values())


@freeze_time(NOW)
def test_idle_fleet_from_the_room_stays_and_hoarding_from_par(history):
    stays = _export("export_location_history", output_format="csv")
    open_since = {r["asset_tag"]: _parse(r["entered_at"]) for r in stays if not r["left_at"]}
    state_now = {a.asset_tag: Asset.objects.get(pk=a.pk).state for a in history}
    expected = sorted(
        tag for tag, since in open_since.items() if since <= NOW - timedelta(days=7) and state_now[tag] == "available"
    )
    assert sorted(a.asset_tag for a in utilisation.idle_fleet(days=7)) == expected

    pumps = history[1].asset_type
    ParLevel.objects.create(unit="4 West", asset_type=pumps, target=0, critical=0)
    located = Asset.objects.filter(asset_type=pumps, state="available")
    located.update(current_room=RoomFactory(unit="4 West"), last_seen=NOW)
    [par] = utilisation.hoarding()
    assert (par.unit, par.excess) == ("4 West", located.count())


@freeze_time(NOW)
def test_the_page_draws_svg_charts_and_exports_csv(history, admin_client, client):
    url = f"/admin/biomed/reports/utilisation/?{PERIOD.query}&idle_days=7"
    html = admin_client.get(url).content.decode()
    assert (
        html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 5
        and "Share of time in each state" in html
        and "Infusion pump" in html
    )
    lines = list(csv.DictReader(io.StringIO(admin_client.get(url + "&format=csv").content.decode())))
    seconds, _, _ = recompute(history)
    assert {(r["asset_type"], r["unit"]): int(r["in_use_seconds"]) for r in lines} == {
        k: v.get("in_use", 0) for k, v in seconds.items()
    }
    assert admin_client.get(url.replace("idle_days=7", "idle_days=0")).status_code == 400
    client.force_login(UserFactory(username="plain-staff", is_staff=True))
    assert client.get(url).status_code == 403


def _rollups() -> tuple[list, list, date | None]:
    days = list(UtilisationDay.objects.order_by("day", "asset_type_id", "unit", "state").values_list())
    cycles = list(TurnaroundCycle.objects.order_by("available_at", "asset_id").values_list(*CYCLE_FIELDS))
    return [row[1:] for row in days], cycles, UtilisationRollup.objects.values_list("through_day", flat=True).first()


CYCLE_FIELDS = ("asset_id", "asset_type_id", "unit", "soiled_at", "available_at", "seconds")


@freeze_time(NOW)
def test_a_rollup_request_that_cannot_be_right_is_refused_before_anything_is_written(history):
    call_command("rollup_utilisation", stdout=io.StringIO())
    before = _rollups()
    assert before[2] == date(2026, 11, 19) and before[0]
    for options, message in [
        (
            {"rebuild_from": "2026-11-12", "until": "2026-11-11"},
            "--rebuild-from 2026-11-12 is after the last day to roll up (2026-11-11)",
        ),
        ({"until": "2026-11-20"}, "--until 2026-11-20 is not over yet: a day is rolled up once it is over"),
        ({"until": "2026-11-22"}, "--until 2026-11-22 is not over yet"),
        ({"until": "9999-12-31"}, "--until 9999-12-31 is not over yet"),
        ({"rebuild_from": "2026-11-12", "until": "2026-11-20"}, "--until 2026-11-20 is not over yet"),
        ({"rebuild_from": "2026-11-31"}, "--rebuild-from '2026-11-31' is not a date"),
    ]:
        with pytest.raises(CommandError, match=re.escape(message)):
            call_command("rollup_utilisation", stdout=io.StringIO(), **options)
        assert _rollups() == before, options
    rows = {(r.asset_type, r.unit): r.seconds for r in utilisation.utilisation(period=PERIOD)}
    assert sum(sum(s.values()) for s in rows.values()) > 0


@freeze_time(NOW)
def test_rebuilding_from_any_day_gives_the_same_rollups_and_a_failure_leaves_them_as_they_were(history, monkeypatch):
    call_command("rollup_utilisation", stdout=io.StringIO())
    before = _rollups()
    expected = {(r.asset_type, r.unit): r.seconds for r in utilisation.utilisation(period=PERIOD)}

    first = date(2026, 11, 1)  # the assets' creation, before their first transition
    out = io.StringIO()
    call_command("rollup_utilisation", rebuild_from="0001-01-01", stdout=out)  # before any transition: all of it
    assert f"day(s) rolled up ({first} to 2026-11-19)" in out.getvalue()
    assert _rollups() == before

    call_command("rollup_utilisation", rebuild_from="2026-11-12", until="2026-11-14", stdout=io.StringIO())
    assert _rollups()[2] == date(2026, 11, 14)  # the days after are computed live until the next run
    assert {(r.asset_type, r.unit): r.seconds for r in utilisation.utilisation(period=PERIOD)} == expected
    call_command("rollup_utilisation", stdout=io.StringIO())
    assert _rollups() == before

    real_day = utilisation._rollup_day

    def fails_on_the_third_day(day):
        if day == date(2026, 11, 12):
            raise RuntimeError("the database went away")
        real_day(day)

    monkeypatch.setattr(utilisation, "_rollup_day", fails_on_the_third_day)
    with pytest.raises(RuntimeError):
        call_command("rollup_utilisation", rebuild_from="2026-11-10", stdout=io.StringIO())
    assert _rollups() == before
    assert {(r.asset_type, r.unit): r.seconds for r in utilisation.utilisation(period=PERIOD)} == expected


@freeze_time(NOW)
def test_the_pointer_never_claims_a_day_that_was_not_rolled_up(history):
    """Rolled up to 11-09; then a rebuild from 11-15: the days in between are rolled up too."""
    call_command("rollup_utilisation", until="2026-11-09", stdout=io.StringIO())
    call_command("rollup_utilisation", rebuild_from="2026-11-15", stdout=io.StringIO())
    days = set(UtilisationDay.objects.values_list("day", flat=True))
    first = date(2026, 11, 1)
    assert days == {first + timedelta(days=n) for n in range((date(2026, 11, 19) - first).days + 1)}
    seconds, _, _ = recompute(history)
    rows = {(r.asset_type, r.unit): r for r in utilisation.utilisation(period=PERIOD)}
    assert {k: r.seconds for k, r in rows.items()} == {k: {s: v for s, v in d.items() if v} for k, d in seconds.items()}


@freeze_time(NOW)
def test_days_before_the_first_transition_read_the_same_rolled_up_as_live(history):
    """The assets exist from 11-01, their first transition is days later: those days are rolled up too."""
    early = Period(date(2026, 11, 1), date(2026, 11, 4))
    live = {(r.asset_type, r.unit): r.seconds for r in utilisation.utilisation(period=early)}
    assert sum(sum(s.values()) for s in live.values()) == 8 * 4 * 86_400  # eight assets, four days
    out = io.StringIO()
    call_command("rollup_utilisation", stdout=out)
    assert "(2026-11-01 to 2026-11-19)" in out.getvalue()
    assert {(r.asset_type, r.unit): r.seconds for r in utilisation.utilisation(period=early)} == live
