"""Nearest-available search at hospital scale: 50,000 assets, p50/p95 of the selector and of the endpoint.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/nearest_query.py

Creates a scratch database (``bench_nearest`` on the DATABASE_URL server; no other name is ever touched),
migrates it, and bulk-creates one site with 2 buildings x 6 floors x 40 rooms and ``--assets`` assets of
8 types: 60 % available (the rest reserved, in use, soiled, cleaning, biomed, decommissioned), seen
70 % within the freshness window, 20 % stale, 10 % missing; 10 % with PM overdue and 1 % under an open
recall. Then it times ``lifecycle.nearest.assets_nearest_available`` and ``GET /api/v1/assets/nearest/``
(in-process through Django and DRF, token auth, JSON rendering) from random rooms for random types, and
prints p50/p95/max and the query plan. The scratch database is dropped at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

SCRATCH_DB = "bench_nearest"
TYPES = ["infusion-pump", "patient-monitor", "ventilator", "wheelchair", "bed", "syringe-driver", "ecg", "scanner"]


def seed(n_assets: int, rng: random.Random) -> None:
    from django.utils import timezone

    from assets.models import Asset, AssetType
    from declarations.states import AssetState
    from lifecycle.models import Recall, WorkOrder, WorkOrderKind
    from locations.models import Building, Floor, Room, Site

    site = Site.objects.create(code="bench", name="Benchmark General")
    rooms = []
    for b in range(2):
        building = Building.objects.create(site=site, code=f"b{b}", name=f"Building {b}")
        for level in range(6):
            floor = Floor.objects.create(building=building, code=str(level), level=level, name=f"Level {level}")
            for i in range(40):
                x, y = (i % 10) * 6.0, (i // 10) * 8.0
                polygon = {"type": "Polygon", "coordinates": [[[x, y], [x + 5, y], [x + 5, y + 7], [x, y + 7], [x, y]]]}
                rooms.append(
                    Room(
                        site=site,
                        floor=floor,
                        code=f"{b}-{level}-{i:02d}",
                        name=f"Room {i}",
                        room_type="patient",
                        unit=f"B{b} L{level}",
                        polygon=polygon,
                        centroid_x=x + 2.5,
                        centroid_y=y + 3.5,
                        area_m2=35.0,
                    )
                )
    Room.objects.bulk_create(rooms)
    rooms = list(Room.objects.all())
    types = AssetType.objects.bulk_create(AssetType(name=t, slug=t) for t in TYPES)
    now = timezone.now()
    states = [AssetState.AVAILABLE] * 12 + [
        AssetState.RESERVED,
        AssetState.IN_USE,
        AssetState.IN_USE,
        AssetState.SOILED,
        AssetState.CLEANING,
        AssetState.BIOMED,
        AssetState.DECOMMISSIONED,
        AssetState.IN_USE,
    ]
    assets = []
    for n in range(n_assets):
        freshness = rng.random()
        seen = now - timedelta(
            minutes=rng.uniform(0, 9)
            if freshness < 0.7
            else rng.uniform(11, 600)
            if freshness < 0.9
            else rng.uniform(60 * 25, 60 * 200)
        )
        assets.append(
            Asset(
                asset_tag=f"B-{n:06d}",
                asset_type=rng.choice(types),
                manufacturer="BD",
                model=f"M{n % 7}",
                serial_number=f"SN{n:07d}",
                state=rng.choice(states),
                current_room=rng.choice(rooms),
                last_seen=seen,
                located_at=seen,
                in_service_date=date.today() - timedelta(days=200),
                last_pm_date=date.today() - timedelta(days=400 if rng.random() < 0.1 else 100),
            )
        )
    Asset.objects.bulk_create(assets, batch_size=5000)
    from benchmarks.biomed_common import legacy_pm_into_schedules

    legacy_pm_into_schedules()  # the PM columns into schedules, as migrated data has them
    recall = Recall.objects.create(
        reference_number="BENCH-1", manufacturer="BD", model="M3", serial_numbers="all", issued_date=date.today()
    )
    recalled = Asset.objects.filter(model="M3").order_by("pk").values_list("pk", flat=True)[: n_assets // 100]
    WorkOrder.objects.bulk_create(WorkOrder(asset_id=pk, kind=WorkOrderKind.RECALL, recall=recall) for pk in recalled)


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p95 = ordered[int(0.95 * (len(ordered) - 1))]
    return f"p50 {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   max {ordered[-1]:6.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    os.environ["DATABASE_URL"] = scratch_url(url, SCRATCH_DB)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["API_USER_THROTTLE_RATE"] = ""  # measuring the endpoint, not the throttle
    os.environ["WEBHOOK_DELIVERY"] = "worker"
    recreate_database(url, SCRATCH_DB)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.test.utils import setup_test_environment

        from assets.models import Asset, AssetType
        from declarations.roles import Role
        from lifecycle.nearest import assets_nearest_available
        from locations.models import Room

        setup_test_environment()  # the test Client's host "testserver"
        settings.DEBUG = False
        call_command("migrate", verbosity=0)
        rng = random.Random(args.seed)
        started = time.perf_counter()
        seed(args.assets, rng)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(
            f"seeded {Asset.objects.count()} assets in {Room.objects.count()} rooms "
            f"({time.perf_counter() - started:.1f} s)"
        )

        from django.contrib.auth.models import Group, User

        from accounts.services import api_token_issue

        user = User.objects.create(username="bench-dispatch")
        user.groups.add(Group.objects.get(name=Role.DISPATCH.group_name))
        token = api_token_issue(user=user).raw
        client = Client(headers={"Authorization": f"Token {token}"})

        rooms = list(Room.objects.all())
        types = list(AssetType.objects.all())
        queries = [(rng.choice(types), rng.choice(rooms)) for _ in range(args.runs)]
        for asset_type, room in queries[:10]:  # warm up connections and caches
            assets_nearest_available(asset_type=asset_type, room=room, limit=args.limit)

        selector_ms, counts = [], []
        for asset_type, room in queries:
            t0 = time.perf_counter()
            results = assets_nearest_available(asset_type=asset_type, room=room, limit=args.limit)
            selector_ms.append((time.perf_counter() - t0) * 1000)
            counts.append(len(results))
        http_ms = []
        for asset_type, room in queries:
            t0 = time.perf_counter()
            response = client.get(
                "/api/v1/assets/nearest/", {"type": asset_type.slug, "room": room.pk, "limit": args.limit}
            )
            http_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, response.content[:300]

        candidates = Asset.objects.filter(asset_type=types[0]).count()
        print(
            f"{args.runs} searches, limit {args.limit}, ~{candidates} assets per type, "
            f"{statistics.mean(counts):.1f} results on average"
        )
        print(f"selector  assets_nearest_available      {percentiles(selector_ms)}")
        print(f"endpoint  GET /api/v1/assets/nearest/   {percentiles(http_ms)}")

        from django.db import reset_queries
        from django.test.utils import CaptureQueriesContext

        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            assets_nearest_available(asset_type=types[0], room=rooms[0], limit=args.limit)
        print(f"queries per search: {len(captured.captured_queries)}")
        main_sql = max(captured.captured_queries, key=lambda q: len(q["sql"]))["sql"]
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) " + main_sql)
            print("\n".join(row[0] for row in cursor.fetchall()))
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url, SCRATCH_DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
