"""The asset CSV import with its audit trail: how long a hospital-sized file takes, first load and rewrite.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/asset_import_audit.py

Creates a scratch database (``bench_import_audit`` on the DATABASE_URL server; no other name is touched),
migrates it, then imports ``--assets`` rows (every row creates an asset and one change-history record),
imports the same file again (nothing changes, nothing recorded), and a third time with every serial number,
data-bearing flag and last PM date rewritten (every row updates an asset and records one change). Prints
the seconds of each run and the change records written. The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch_db import drop_database, recreate_database, scratch_url  # noqa: E402

SCRATCH_DB = "bench_import_audit"
HEADER = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,data_bearing,last_pm_date\n"


def csv_text(n: int, *, rewrite: bool) -> str:
    rows = [
        f"IP-{i:06d},Infusion pump,,BD,Alaris 8015,{'SN2' if rewrite else 'SN'}-{i},"
        f"{'true' if rewrite else 'false'},{'2026-10-01' if rewrite else '2026-01-01'}\n"
        for i in range(n)
    ]
    return HEADER + "".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assets", type=int, default=20_000)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    url = scratch_url(base, SCRATCH_DB)
    recreate_database(base, SCRATCH_DB)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from lifecycle.asset_import import assets_import
        from lifecycle.models import ChangeRecord

        for label, text in (
            ("first load (creates)", csv_text(args.assets, rewrite=False)),
            ("same file again (no change)", csv_text(args.assets, rewrite=False)),
            ("rewrite serial, data-bearing, last PM", csv_text(args.assets, rewrite=True)),
        ):
            before = ChangeRecord.objects.count()
            started = time.perf_counter()
            result = assets_import(stream=io.StringIO(text))
            seconds = time.perf_counter() - started
            written = ChangeRecord.objects.count() - before
            print(
                f"{label:40s} {args.assets:,} rows  {seconds:6.1f} s  {args.assets / seconds:8,.0f} rows/s  "
                f"created {result.created:,} updated {result.updated:,}  change records {written:,}"
            )
        print(f"load average: {os.getloadavg()}")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(base, SCRATCH_DB)


if __name__ == "__main__":
    main()
