"""FHIR search on the demo hospital: a page of 100 Devices (and a few other searches), end to end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/fhir_device_search.py

Creates a scratch database (``bench_fhir`` on the DATABASE_URL server), migrates it, loads the demo hospital
with ``seed_demo`` (St Olaf: 184 rooms, 854 assets), puts every asset in a random room seen within the last
20 minutes (so most are located, some stale: Device.location is filled in), and requests each URL through
Django's test client with a Nurse's token, the whole request as a FHIR client makes it (token, role,
search, COUNT, the page, JSON). ``--repeat`` times per URL; prints median, p95 and worst, and the number of
SQL queries, and the full garbage collections that fell inside the measured requests. The target: a 100-Device
page under 100 ms. The scratch database is dropped at the end.

Before measuring it freezes the loaded program out of the garbage collector, as config/asgi.py does in every
server process (config/startup.py). ``--compare-gc`` then measures the first 100-Device page again four ways in
the same process, to show what the tail is made of: as it was before (Device rows with their tag loaded by
select_related, the page's resources kept until the next full collection, nothing frozen), and with each of
the two fixes alone and together.
"""

from __future__ import annotations

import argparse
import gc
import json
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


class FullCollections:
    """Counts the garbage collector's full (oldest-generation) passes and their time, through gc.callbacks."""

    def __init__(self):
        self.count, self.ms, self._started = 0, 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.ms += (time.perf_counter() - self._started) * 1000

    def snapshot(self) -> tuple[int, float]:
        return self.count, self.ms


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


def measure(client, url: str, repeat: int, collections: FullCollections) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    entries = 0
    count0, ms0 = collections.snapshot()
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content[:300]
        # Not response.json(): the test client caches the parsed body on the response, which it keeps in a
        # reference cycle (response.json is a partial of the response), so every page would be garbage for the
        # collector of this process -- the server's process, here -- where a real client parses in its own.
        body = json.loads(response.content)
        entries = len(body.get("entry", [])) if body["resourceType"] == "Bundle" else 1
        queries = len(captured.captured_queries)
    count1, ms1 = collections.snapshot()
    median = statistics.median(times)
    times.sort()
    return {
        "entries": entries,
        "queries": queries,
        "median": median,
        "p95": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
        "worst": times[-1],
        "slow": sum(t > 2.5 * median for t in times),
        "gcs": count1 - count0,
        "gc_ms": ms1 - ms0,
    }


def compare_gc(client, repeat: int, collections: FullCollections) -> None:
    """The first 100-Device page, four ways, in this process: the fixes undone one by one (monkeypatched)."""
    from rest_framework.views import APIView

    from assets.models import Asset
    from fhir import views
    from locations.freshness import assets_with_location_status

    fixed_queryset, fixed_finalize = views.device_queryset, views.FhirView.finalize_response

    def tag_by_select_related(now=None):  # the queryset before: asset <-> tag, a reference cycle per row
        return assets_with_location_status(queryset=Asset.objects.select_related("asset_type", "tag"), now=now)

    variants = [
        ("before: cycles kept, nothing frozen", False, False),
        ("page released, tag annotated", True, False),
        ("program frozen", False, True),
        ("both (the product)", True, True),
    ]
    print(f"\n--compare-gc: /fhir/r4/Device?_count=100, {repeat} requests per variant, twice, interleaved\n")
    print(
        "| variant                              | median ms | p95 ms | worst ms | p95/median "
        "| > 2.5x median | full GCs | full GC ms |"
    )
    print(
        "| ------------------------------------ | --------: | -----: | -------: | ---------: "
        "| ------------: | -------: | ---------: |"
    )
    rows = []
    try:
        for _round in range(2):
            for name, released, frozen in variants:
                views.device_queryset = fixed_queryset if released else tag_by_select_related
                views.FhirView.finalize_response = fixed_finalize if released else APIView.finalize_response
                gc.unfreeze()
                gc.collect()
                if frozen:
                    gc.freeze()
                rows.append((name, measure(client, "/fhir/r4/Device?_count=100", repeat, collections)))
    finally:
        views.device_queryset, views.FhirView.finalize_response = fixed_queryset, fixed_finalize
    for name, r in sorted(rows, key=lambda row: [v[0] for v in variants].index(row[0])):
        print(
            f"| {name:<36} | {r['median']:>9.1f} | {r['p95']:>6.1f} | {r['worst']:>8.1f} "
            f"| {r['p95'] / r['median']:>10.2f} | {r['slow']:>13} | {r['gcs']:>8} | {r['gc_ms']:>10.0f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--database", default=SCRATCH_DB, help=f"scratch database name (default {SCRATCH_DB})")
    parser.add_argument("--compare-gc", action="store_true", help="also measure the page with the GC fixes undone")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = scratch_url(base, args.database)
    recreate_database(url, args.database)
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
    from config.startup import freeze_startup_objects

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
        frozen = freeze_startup_objects()  # as config/asgi.py does in a server process
        collections = FullCollections()
        load = os.getloadavg()
        print(
            f"fhir_device_search on PostgreSQL {connection.pg_version // 10000} (database {args.database}): "
            f"demo hospital, {Asset.objects.count():,} assets; {args.repeat} requests per URL as a Nurse (token); "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {frozen:,} objects frozen at start\n"
        )
        print(
            "| request                                  | entries | queries | median ms | p95 ms | worst ms "
            "| > 2.5x median | full GCs |"
        )
        print(
            "| ---------------------------------------- | ------: | ------: | --------: | -----: | -------: "
            "| ------------: | -------: |"
        )
        for name, path in cases():
            r = measure(client, path, args.repeat, collections)
            print(
                f"| {name:<40} | {r['entries']:>7} | {r['queries']:>7} | {r['median']:>9.1f} | {r['p95']:>6.1f} "
                f"| {r['worst']:>8.1f} | {r['slow']:>13} | {r['gcs']:>8} |"
            )
        if args.compare_gc:
            compare_gc(client, args.repeat, collections)
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, args.database)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
