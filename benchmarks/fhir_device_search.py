"""FHIR search on the demo hospital: a page of 100 Devices (and a few other searches), end to end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/fhir_device_search.py

Creates a scratch database (``bench_fhir`` on the DATABASE_URL server), migrates it, loads the demo hospital
with ``seed_demo`` (St Olaf: 184 rooms, 854 assets), puts every asset in a random room seen within the last
20 minutes (so most are located, some stale: Device.location is filled in), and requests each URL through
Django's test client with a Nurse's token, the whole request as a FHIR client makes it (token, role,
search, COUNT, the page, JSON). ``--repeat`` times per URL; prints median, p95 and worst, and the number of
SQL queries. The target: a 100-Device page under 100 ms. The scratch database is dropped at the end.
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

SCRATCH_DB = "bench_fhir"


def place_assets(seed: int) -> None:
    from django.utils import timezone

    from assets.models import Asset
    from locations.models import Room

    rng = random.Random(seed)
    rooms = list(Room.objects.values_list("pk", flat=True))
    now = timezone.now()
    assets = list(Asset.objects.all())
    for asset in assets:
        asset.current_room_id = rng.choice(rooms)
        asset.last_seen = now - timedelta(seconds=rng.randint(0, 20 * 60))
        asset.located_at = asset.last_seen
        asset.location_confidence = round(rng.uniform(0.5, 1.0), 2)
    Asset.objects.bulk_update(
        assets, ["current_room", "last_seen", "located_at", "location_confidence"], batch_size=500
    )


def cases() -> list[tuple[str, str]]:
    from assets.models import Asset
    from locations.models import Building, Floor

    asset = Asset.objects.order_by("pk").first()
    building = Building.objects.order_by("pk").first()
    floor = Floor.objects.order_by("pk").first()
    return [
        ("Device search, 100 per page, page 1", "/fhir/r4/Device?_count=100"),
        ("Device search, 100 per page, page 5", "/fhir/r4/Device?_count=100&_offset=400"),
        ("Device type=infusion-pump, 100", "/fhir/r4/Device?type=infusion-pump&_count=100"),
        (
            "Device location:below=building, 100",
            f"/fhir/r4/Device?location:below=Location/building-{building.pk}&_count=100",
        ),
        ("Device location:below=floor, 100", f"/fhir/r4/Device?location:below=Location/floor-{floor.pk}&_count=100"),
        ("Device lifecycle-state=available, 100", "/fhir/r4/Device?lifecycle-state=available&_count=100"),
        ("Device read", f"/fhir/r4/Device/{asset.pk}"),
        ("Location search, 100 per page", "/fhir/r4/Location?_count=100"),
        ("metadata", "/fhir/r4/metadata"),
    ]


def measure(client, url: str, repeat: int) -> tuple[int, int, float, float, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    entries = 0
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        entries = len(body.get("entry", [])) if body["resourceType"] == "Bundle" else 1
        queries = len(captured.captured_queries)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return entries, queries, statistics.median(times), p95, times[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = scratch_url(base, SCRATCH_DB)
    recreate_database(url, SCRATCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from io import StringIO

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.services import api_token_issue
    from assets.models import Asset

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    settings.API_USER_THROTTLE_RATE = None  # measuring, not throttling
    try:
        call_command("migrate", verbosity=0)
        call_command("seed_demo", "--force", stdout=StringIO(), stderr=StringIO())
        place_assets(args.seed)
        nurse = get_user_model().objects.get(username="nurse")
        token = api_token_issue(user=nurse).raw
        client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/fhir+json")
        client.get("/fhir/r4/Device?_count=100")  # warm up: imports, connection
        load = os.getloadavg()
        print(
            f"fhir_device_search on PostgreSQL {connection.pg_version // 10000} (database {SCRATCH_DB}): "
            f"demo hospital, {Asset.objects.count():,} assets; {args.repeat} requests per URL as a Nurse (token); "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
        )
        print("| request                                  | entries | queries | median ms | p95 ms | worst ms |")
        print("| ---------------------------------------- | ------: | ------: | --------: | -----: | -------: |")
        for name, path in cases():
            entries, queries, median, p95, worst = measure(client, path, args.repeat)
            print(f"| {name:<40} | {entries:>7} | {queries:>7} | {median:>9.1f} | {p95:>6.1f} | {worst:>8.1f} |")
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, SCRATCH_DB)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
