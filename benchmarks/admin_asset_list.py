"""The admin's asset list at hospital scale: response time of /admin/assets/asset/ with 50,000 assets.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/admin_asset_list.py

The script creates a scratch database (``bench_admin_list`` on the DATABASE_URL server; it refuses any
other name), migrates it, and bulk-loads a campus: 3 buildings, 12 floors, 1,200 rooms, 12 asset types,
``--assets`` assets (default 50,000) spread over every state, location status and PM date, tags on 80 % of
them and open recall work orders on 1 %. It then requests the changelist through Django's test client as
a Clinical engineering user, the way a browser does (session, permissions, filters, the page of 50 rows),
``--repeat`` times per URL, and prints the median and worst response time, the number of SQL queries and
the slowest of them. The scratch database is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

SCRATCH_DB = "bench_admin_list"
WIDTHS = (7, 7, 9, 8, 16)  # the result table's numeric columns


def load_campus(n_assets: int, seed: int) -> dict:
    """Bulk-load the campus; returns ids the URLs below filter on."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection
    from django.utils import timezone

    from assets.models import Asset, AssetType, Tag
    from declarations.room_types import RoomType
    from declarations.states import AssetState
    from lifecycle.models import Recall, WorkOrder, WorkOrderKind
    from locations.models import Building, Floor, Room, Site

    rng = random.Random(seed)
    now = timezone.now()
    today = timezone.localdate()
    site = Site.objects.create(code="campus", name="Campus General")
    buildings = [
        Building.objects.create(site=site, code=f"b{i}", name=f"Building {name}") for i, name in enumerate("ABC")
    ]
    floors = [
        Floor.objects.create(building=b, code=str(level), level=level, name=f"Floor {level}")
        for b in buildings
        for level in range(1, 5)
    ]
    units = [f"Unit {f.building.name[-1]}{f.level}" for f in floors]
    kinds = [RoomType.PATIENT] * 6 + [RoomType.STORAGE, RoomType.CLEAN_UTILITY, RoomType.SOILED_UTILITY, RoomType.EXIT]
    rooms = []
    for f_index, floor in enumerate(floors):
        for r in range(100):
            x, y = (r % 10) * 6.0, (r // 10) * 6.0
            rooms.append(
                Room(
                    site=site,
                    floor=floor,
                    code=f"{floor.building.code.upper()}{floor.level}-{r:03d}",
                    name=f"Room {r}",
                    room_type=kinds[r % len(kinds)],
                    unit=units[f_index],
                    polygon={
                        "type": "Polygon",
                        "coordinates": [[[x, y], [x + 5, y], [x + 5, y + 5], [x, y + 5], [x, y]]],
                    },
                    centroid_x=x + 2.5,
                    centroid_y=y + 2.5,
                    area_m2=25.0,
                )
            )
    rooms = Room.objects.bulk_create(rooms)
    names = [
        ("Infusion pump", ["Alaris 8015", "Spectrum IQ", "Infusomat Space"]),
        ("Patient monitor", ["IntelliVue MX450", "IntelliVue MX800"]),
        ("Ventilator", ["Hamilton C6", "Servo-u"]),
        ("Wheelchair", ["Tracer SX5"]),
        ("Defibrillator", ["LIFEPAK 15", "ZOLL R Series"]),
        ("Hospital bed", ["Hill-Rom Centrella"]),
        ("Feeding pump", ["Kangaroo ePump"]),
        ("SCD pump", ["Kendall SCD 700"]),
        ("Bladder scanner", ["BladderScan Prime"]),
        ("Telemetry transmitter", ["IntelliVue TRx4841A"]),
        ("Patient lift", ["Maxi Move"]),
        ("Vital signs monitor", ["Connex VSM 6000"]),
    ]
    types = [
        AssetType.objects.create(
            name=name, slug=name.lower().replace(" ", "-"), default_pm_interval_days=rng.choice([180, 365])
        )
        for name, _ in names
    ]
    states = (
        [AssetState.AVAILABLE] * 55
        + [AssetState.IN_USE] * 20
        + [AssetState.SOILED] * 7
        + [AssetState.CLEANING] * 5
        + [AssetState.RESERVED] * 3
        + [AssetState.BIOMED] * 6
        + [AssetState.DECOMMISSIONED] * 4
    )
    assets = []
    for i in range(n_assets):
        t = rng.randrange(len(types))
        seen = rng.random()
        if seen < 0.80:
            last_seen = now - timedelta(seconds=rng.uniform(0, 540))  # located
        elif seen < 0.93:
            last_seen = now - timedelta(hours=rng.uniform(0.2, 23))  # stale
        elif seen < 0.98:
            last_seen = now - timedelta(days=rng.uniform(1.1, 30))  # missing
        else:
            last_seen = None  # never seen
        assets.append(
            Asset(
                asset_tag=f"CG-{i:06d}",
                asset_type=types[t],
                manufacturer="Vendor",
                model=rng.choice(names[t][1]),
                serial_number=f"SN{rng.randrange(10**9):09d}",
                unit=rng.choice(units),
                state=rng.choice(states),
                current_room=rng.choice(rooms) if last_seen else None,
                last_seen=last_seen,
                located_at=last_seen,
                in_service_date=today - timedelta(days=rng.randrange(30, 3000)),
                last_pm_date=today - timedelta(days=rng.randrange(0, 420)) if rng.random() < 0.9 else None,
            )
        )
    assets = Asset.objects.bulk_create(assets, batch_size=5000)
    from benchmarks.biomed_common import legacy_pm_into_schedules

    legacy_pm_into_schedules()  # the PM columns into schedules, as migrated data has them
    tags = [
        Tag(tag_id=f"c3{i:010x}", asset=asset, battery_percent=rng.randrange(5, 100), last_seen=asset.last_seen)
        for i, asset in enumerate(assets)
        if rng.random() < 0.8
    ]
    Tag.objects.bulk_create(tags, batch_size=5000)
    recall = Recall.objects.create(
        reference_number="FSN-BENCH-1",
        manufacturer="Vendor",
        model="Alaris 8015",
        serial_numbers="all",
        issued_date=today,
    )
    recalled = [a for a in assets if a.model == "Alaris 8015" and a.state != AssetState.DECOMMISSIONED][
        : n_assets // 100
    ]
    WorkOrder.objects.bulk_create(
        [WorkOrder(asset=a, kind=WorkOrderKind.RECALL, recall=recall, notes="bench") for a in recalled], batch_size=5000
    )
    user = get_user_model().objects.create_user("bench-biomed", is_staff=True)
    user.groups.add(Group.objects.get(name="Clinical engineering"))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "user": user,
        "floor": floors[5].pk,
        "building": buildings[1].pk,
        "type": types[0].pk,
        "unit": units[3],
        "tag": tags[len(tags) // 2].tag_id,
        "serial": assets[n_assets // 3].serial_number,
    }


def cases(ids: dict, n_assets: int) -> list[tuple[str, dict]]:
    tag = ids["tag"]
    middle = max(1, n_assets // 100)  # the page half-way down the unfiltered list (admin pages count from 1)
    tag_display = ":".join(tag[i : i + 2] for i in range(0, 12, 2)).upper()
    return [
        ("no filter, page 1", {}),
        (f"no filter, page {middle} (OFFSET {(middle - 1) * 50:,})", {"p": str(middle)}),
        ("state = available", {"state__exact": "available"}),
        ("location = missing", {"location": "missing"}),
        ("missing and tracked (the dashboard's missing assets)", {"location": "missing", "tracked": "yes"}),
        ("PM overdue", {"pm": "overdue"}),
        ("PM due this month", {"pm": "month"}),
        ("open recall", {"recall": "open"}),
        ("one floor", {"where": f"f{ids['floor']}"}),
        (
            "building + type + available",
            {"where": f"b{ids['building']}", "asset_type__id__exact": ids["type"], "state__exact": "available"},
        ),
        ("owning unit + stale", {"unit": ids["unit"], "location": "stale"}),
        ("sorted by last seen, newest first", {"o": "-7"}),
        ("search: asset tag prefix", {"q": "CG-0123"}),
        ("search: serial number", {"q": ids["serial"]}),
        ("search: tag id as printed", {"q": tag_display}),
    ]


def measure(client, params: dict, repeat: int):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, result = [], None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get("/admin/assets/asset/", params)
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{params}: HTTP {response.status_code}")
        result = (response.context["cl"].result_count, queries)
    count, queries = result
    slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
    return count, len(queries), statistics.median(timings), max(timings), float(slowest["time"]) * 1000, slowest["sql"]


def measure_export(client, params: dict) -> tuple[int, float]:
    started = time.perf_counter()
    response = client.get("/admin/assets/asset/export.csv", params)
    body = b"".join(response.streaming_content)
    return body.count(b"\n") - 1, (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--show-sql", action="store_true", help="print the slowest query of each URL")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = scratch_url(base, SCRATCH_DB)
    recreate_database(url, SCRATCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    setup_test_environment()  # the test client then exposes response.context
    try:
        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        ids = load_campus(args.assets, args.seed)
        loaded = time.perf_counter() - started
        client = Client()
        client.force_login(ids["user"])
        client.get("/admin/assets/asset/")  # warm up: imports, templates, connection
        print(
            f"admin_asset_list on PostgreSQL {connection.pg_version // 10000} (database {SCRATCH_DB}): "
            f"{args.assets:,} assets, 1,200 rooms on 12 floors, loaded in {loaded:.0f} s (not timed); "
            f"50 rows per page, median and worst of {args.repeat} requests, as a Clinical engineering user\n"
        )
        header = ("list", "rows", "queries", "median ms", "worst ms", "slowest query ms")
        print(f"| {header[0]:<38} | " + " | ".join(f"{h:>{w}}" for h, w in zip(header[1:], WIDTHS, strict=True)) + " |")
        print(f"| {'-' * 38} | " + " | ".join("-" * (w - 1) + ":" for w in WIDTHS) + " |")
        sql = []
        for name, params in cases(ids, args.assets):
            count, queries, median, worst, slowest_ms, slowest_sql = measure(client, params, args.repeat)
            cells = (f"{count:,}", str(queries), f"{median:.0f}", f"{worst:.0f}", f"{slowest_ms:.1f}")
            print(f"| {name:<38} | " + " | ".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS, strict=True)) + " |")
            sql.append((name, slowest_sql))
        rows, ms = measure_export(client, {"state__exact": "available"})
        print(f"\nCSV export of 'state = available': {rows:,} rows in {ms / 1000:.1f} s (streamed)")
        if args.show_sql:
            for name, statement in sql:
                print(f"\n-- {name}\n{statement}")
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, SCRATCH_DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
