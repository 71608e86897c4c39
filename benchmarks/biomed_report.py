"""The biomed programme at hospital scale: 50,000 assets, 90 days of scheduled maintenance history.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/biomed_report.py

Creates a scratch database (``bench_biomed`` on the DATABASE_URL server; no other name is touched), migrates
it and bulk-creates ``--assets`` assets of 8 types in 24 units (10 % high risk), a PM plan per type and a
calibration plan for half of the types (so ~75,000 schedules), and 90 days of scheduled work: every schedule
due in the last 90 days has its work order, 85 % done on time, 9 % late with a reason, 3 % cancelled, 3 % still
open; 200 rental loans. Then it times, best and median of ``--runs``:
- the accreditation report figures (``accreditation_groups``) for the 90 days, the high-risk miss list, the
  could-not-locate list, the rental-days;
- the admin report page and its CSV, in-process through Django (admin login, template rendering);
- the daily ``generate_work_orders`` (schedules synced with plans, then work orders opened);
- the serviceability selector ``assets_maintenance_overdue`` (the EXISTS every interface uses).
- the utilisation figures (state time, turnaround median/p90, downtime, missing-hours) over 90 days of
  transitions (one use cycle every ``--cycle-days`` days per asset: 6 million rows by default), and the
  utilisation page with its charts.
The scratch database is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

SCRATCH_DB = "bench_biomed"
TYPES = ["infusion-pump", "patient-monitor", "ventilator", "wheelchair", "bed", "syringe-driver", "ecg", "defib"]


def seed(n_assets: int, rng: random.Random, cycle_days: int = 3) -> dict:
    from django.contrib.auth.models import User
    from django.utils import timezone

    from assets.models import Asset, AssetType
    from lifecycle.biomed.models import Loan, MaintenanceSchedule, ScheduledWork, SchedulePlan, add_interval
    from lifecycle.biomed.services import schedules_materialise
    from lifecycle.models import WorkOrder
    from locations.models import Building, Floor, Room, Site

    today = timezone.localdate()
    site = Site.objects.create(code="bench", name="Benchmark General")
    building = Building.objects.create(site=site, code="b0", name="Building 0")
    floor = Floor.objects.create(building=building, code="1", level=1, name="Level 1")
    rooms = []
    for i in range(240):
        x, y = (i % 20) * 6.0, (i // 20) * 8.0
        polygon = {"type": "Polygon", "coordinates": [[[x, y], [x + 5, y], [x + 5, y + 7], [x, y + 7], [x, y]]]}
        rooms.append(
            Room(
                site=site,
                floor=floor,
                code=f"R{i:03d}",
                name=f"Room {i}",
                room_type="patient",
                unit=f"U{i % 24:02d}",
                polygon=polygon,
                centroid_x=x + 2.5,
                centroid_y=y + 3.5,
                area_m2=35.0,
            )
        )
    rooms = Room.objects.bulk_create(rooms)
    types = AssetType.objects.bulk_create(AssetType(name=t, slug=t) for t in TYPES)
    for n, asset_type in enumerate(types):
        SchedulePlan.objects.create(asset_type=asset_type, kind="pm", interval_value=365, interval_unit="days")
        if n % 2 == 0:
            SchedulePlan.objects.create(
                asset_type=asset_type, kind="calibration", interval_value=6, interval_unit="months"
            )
    now = timezone.now()
    assets = []
    for n in range(n_assets):
        seen = now - timedelta(minutes=rng.uniform(0, 9) if rng.random() < 0.9 else rng.uniform(60 * 25, 60 * 90))
        assets.append(
            Asset(
                asset_tag=f"B-{n:06d}",
                asset_type=rng.choice(types),
                manufacturer="BD",
                model=f"M{n % 7}",
                serial_number=f"SN{n:07d}",
                unit=f"U{n % 24:02d}",
                risk_class="high" if rng.random() < 0.1 else "low",
                current_room=rng.choice(rooms),
                last_seen=seen,
                located_at=seen,
                in_service_date=today - timedelta(days=rng.randint(30, 3000)),
            )
        )
    Asset.objects.bulk_create(assets, batch_size=5000)
    t0 = time.perf_counter()
    schedules_materialise()
    materialise_s = time.perf_counter() - t0

    # Last passing completion: within the interval, so that ~ 90 days of due dates fall in the history window.
    schedules = list(
        MaintenanceSchedule.objects.all().only("pk", "asset_id", "kind", "interval_value", "interval_unit")
    )
    history = []
    for schedule in schedules:
        span = (add_interval(today, schedule.interval_value, schedule.interval_unit) - today).days
        due = today - timedelta(days=rng.randint(-span + 90, 89))  # some due in the last 90 days, most later
        if due <= today - timedelta(days=1) and due >= today - timedelta(days=90):
            history.append((schedule, due))
        last = add_interval(due, -schedule.interval_value, schedule.interval_unit)
        schedule.last_done, schedule.last_result, schedule.last_result_on, schedule.next_due = last, "pass", last, due
    MaintenanceSchedule.objects.bulk_update(
        schedules, ["last_done", "last_result", "last_result_on", "next_due"], batch_size=5000
    )
    orders, details = [], []
    for schedule, due in history:
        roll = rng.random()
        if roll < 0.85:
            status, performed, reason = "done", due - timedelta(days=rng.randint(0, 7)), ""
        elif roll < 0.94:
            status, performed, reason = "done", min(due + timedelta(days=rng.randint(1, 9)), today), "in use"
        elif roll < 0.97:
            status, performed, reason = "cancelled", None, "sent to vendor"
        else:
            status, performed, reason = "open", None, ""
        closed = (
            timezone.make_aware(datetime.combine(performed or due, datetime.min.time())) if status != "open" else None
        )
        orders.append(WorkOrder(asset_id=schedule.asset_id, kind="pm", status=status, closed_at=closed))
        details.append((schedule, due, performed, reason))
    WorkOrder.objects.bulk_create(orders, batch_size=5000)
    ScheduledWork.objects.bulk_create(
        (
            ScheduledWork(
                work_order=o, schedule=s, due_date=d, performed_on=p, result="pass" if p else "", miss_reason=r
            )
            for o, (s, d, p, r) in zip(orders, details, strict=True)
        ),
        batch_size=5000,
    )
    # Assets done recently have their next due date a full interval later; the open ones stay overdue.
    user = User.objects.create(username="bench-biomed", is_staff=True, is_superuser=True)
    loaned = rng.sample(range(1, n_assets + 1), 200)
    Loan.objects.bulk_create(
        Loan(
            asset_id=pk,
            kind="rental_return",
            borrower="Rentals Inc",
            lent_at=now - timedelta(days=rng.randint(1, 120)),
            expected_return=now + timedelta(days=rng.randint(1, 30)),
            rental_cost_per_day=Decimal("25.00"),
            lent_by=user,
        )
        for pk in loaned
    )
    transitions = _transition_history(cycle_days)
    return {
        "schedules": len(schedules),
        "activities": len(orders),
        "materialise_s": materialise_s,
        "user": user,
        "transitions": transitions,
    }


def _transition_history(cycle_days: int) -> int:
    """90 days of use cycles for every asset (start_use, return, start_cleaning, finish_cleaning: one cycle
    every ``cycle_days`` days at a random hour, 4 % through biomed for a day), in one INSERT ... SELECT;
    plus missing-alert periods for 2 % of the assets."""
    from django.db import connection

    sql = """
    INSERT INTO lifecycle_transitionlog (asset_id, transition, from_state, to_state, at, note, source)
    SELECT a.id, step.transition, step.from_state,
           CASE WHEN step.n = 4 AND (a.id + k) %% 25 = 0 THEN 'biomed' ELSE step.to_state END,
           now() - interval '90 days' + (k * %(cycle)s || ' days')::interval
               + ((a.id * 7919 + k * 104729) %% 36000 || ' seconds')::interval + step.offset_, '', 'user'
    FROM assets_asset a
    CROSS JOIN generate_series(0, %(cycles)s - 1) AS k
    CROSS JOIN (VALUES
        (1, 'start_use', 'available', 'in_use', interval '0 hours'),
        (2, 'return', 'in_use', 'soiled', interval '20 hours'),
        (3, 'start_cleaning', 'soiled', 'cleaning', interval '23 hours'),
        (4, 'finish_cleaning', 'cleaning', 'available', interval '25 hours')
    ) AS step(n, transition, from_state, to_state, offset_)
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, {"cycle": cycle_days, "cycles": 90 // cycle_days})
        rows = cursor.rowcount
        cursor.execute(
            """
            INSERT INTO alerts_alert (kind, asset_id, message, status, created_at, resolved_at, auto_resolved)
            SELECT 'missing', a.id, 'bench', 'resolved', now() - interval '60 days',
                   now() - interval '59 days', true
            FROM assets_asset a WHERE a.id % 50 = 0
            """
        )
        cursor.execute("UPDATE assets_asset SET created_at = now() - interval '120 days'")
    return rows


def timed(fn, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return min(samples) * 1000, statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cycle-days", type=int, default=3, help="one use cycle per asset every N days")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    os.environ["DATABASE_URL"] = scratch_url(url, SCRATCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    recreate_database(url, SCRATCH_DB)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment
        from django.utils import timezone

        from lifecycle.biomed import reports
        from lifecycle.biomed.selectors import assets_maintenance_overdue
        from lifecycle.biomed.services import schedules_materialise, work_orders_generate

        setup_test_environment()
        settings.DEBUG = False
        call_command("migrate", verbosity=0)
        rng = random.Random(args.seed)
        started = time.perf_counter()
        seeded = seed(args.assets, rng, args.cycle_days)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"seeded {args.assets} assets, {seeded['schedules']} schedules, {seeded['activities']} scheduled "
            f"activities in the last 90 days ({time.perf_counter() - started:.1f} s; schedules from plans "
            f"{seeded['materialise_s']:.1f} s); {seeded['transitions']} transitions in 90 days"
        )
        from lifecycle.biomed.utilisation import utilisation_rollup

        t0 = time.perf_counter()
        rolled = utilisation_rollup()
        print(f"rollup_utilisation: {len(rolled)} days rolled up in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        utilisation_rollup(until=timezone.localdate())  # the daily run: one more day
        print(f"rollup_utilisation, one more day: {time.perf_counter() - t0:.1f} s")
        from lifecycle.biomed.models import UtilisationRollup

        UtilisationRollup.objects.update(through_day=timezone.localdate() - timedelta(days=1))
        today = timezone.localdate()
        period = reports.Period(today - timedelta(days=89), today)
        groups = reports.accreditation_groups(period=period)
        total = reports.totals(groups)
        print(
            f"report: {len(groups)} groups, {total.counted} counted, {total.misses} misses, "
            f"share on time {total.on_time_share:.3f}"
        )

        def figures():
            reports.accreditation_groups(period=period)

        def high_misses():
            list(reports.accreditation_rows(period=period, risk="high", outcomes=reports.MISSES))

        def not_located():
            list(reports.could_not_locate(period=period)[:500])

        def rentals():
            reports.rental_days(period=period)

        def overdue_count():
            assets_maintenance_overdue(today=today).count()

        from lifecycle.biomed.utilisation import idle_fleet, utilisation

        def utilisation_figures():
            utilisation(period=period)

        def idle():
            list(idle_fleet(days=7)[:300])

        client = Client()
        client.force_login(seeded["user"])
        url = f"/admin/biomed/reports/accreditation/?{period.query}"

        def page():
            response = client.get(url)
            assert response.status_code == 200, response.status_code

        def utilisation_page():
            response = client.get(f"/admin/biomed/reports/utilisation/?{period.query}")
            assert response.status_code == 200, response.status_code

        def csv_export():
            response = client.get(url + "&format=csv")
            assert response.status_code == 200

        for name, fn in [
            ("figures (accreditation_groups, 90 days)", figures),
            ("high-risk misses, every row", high_misses),
            ("could not locate (first 500)", not_located),
            ("rental-days", rentals),
            ("assets_maintenance_overdue().count()", overdue_count),
            ("admin report page (HTML)", page),
            ("report CSV", csv_export),
            ("utilisation figures (90 days)", utilisation_figures),
            ("idle fleet (first 300)", idle),
            ("admin utilisation page (charts)", utilisation_page),
        ]:
            best, median = timed(fn, args.runs)
            print(f"{name:<42} best {best:8.1f} ms   median {median:8.1f} ms")

        t0 = time.perf_counter()
        synced = schedules_materialise()
        sync_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = work_orders_generate(today=today)
        generate_s = time.perf_counter() - t0
        print(
            f"generate_work_orders: sync {sync_s:.1f} s ({synced} rows changed), generate {generate_s:.1f} s "
            f"({len(result.opened)} opened, {result.already_open} already open)"
        )
        print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
        connection.close()
    finally:
        if not args.keep:
            drop_database(url, SCRATCH_DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
