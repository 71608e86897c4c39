"""Two imports of the same new asset file at the same moment: the second waits for the first, then finds its
assets (unchanged) instead of dying on the unique asset tag with an IntegrityError traceback.

Needs PostgreSQL and two connections (one per thread); skipped on SQLite. The first import holds its
transaction open (from its progress callback, after writing every row) until PostgreSQL shows the second one
waiting for it (tests/pg_waits.py); nothing is timed.
"""

from __future__ import annotations

import io
import threading

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connections

from assets.models import Asset, AssetType, Tag
from lifecycle.asset_import import assets_import
from tests.pg_waits import backend_pid, wait_until_blocked

pytestmark = [
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="needs PostgreSQL locks and two connections; set DATABASE_URL=postgres://... (CI does)",
    ),
    pytest.mark.django_db(transaction=True),
]

CSV = "asset_tag,asset_type,tag_id,manufacturer,model,serial_number\n" + "".join(
    f"NEW-{i},Infusion pump,c300000{i:05x},BD,Alaris 8015,SN-{i}\n" for i in range(20)
)


def test_two_imports_of_the_same_new_file_at_once(tmp_path):
    path = tmp_path / "new.csv"
    path.write_text(CSV)
    holding, release, first_pid, outcome = threading.Event(), threading.Event(), {}, {}

    def hold(done, total):  # called inside the first import's transaction, every row written
        first_pid["pid"] = backend_pid()
        holding.set()
        assert release.wait(60)

    def first():
        try:
            outcome["first"] = assets_import(stream=io.StringIO(CSV), progress=hold)
        finally:
            connections.close_all()

    second_pid = {}

    def second():
        out, err = io.StringIO(), io.StringIO()
        try:
            second_pid["pid"] = backend_pid()
            call_command("import_assets", str(path), stdout=out, stderr=err)
            outcome["second"] = out.getvalue()
        except Exception as exc:  # the defect: an IntegrityError traceback
            outcome["second"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first)]
    threads[0].start()
    try:
        assert holding.wait(60)
        threads.append(threading.Thread(target=second))
        threads[1].start()
        while "pid" not in second_pid:
            threads[1].join(0.01)
        wait_until_blocked(waiter=second_pid["pid"], blocker=first_pid["pid"])
    finally:
        release.set()
        for thread in threads:
            thread.join(60)

    assert outcome["first"].created == 20
    assert isinstance(outcome["second"], str), repr(outcome["second"])
    assert "Assets: 0 created, 0 updated, 20 unchanged" in outcome["second"]
    assert (Asset.objects.count(), AssetType.objects.count(), Tag.objects.count()) == (20, 1, 20)
