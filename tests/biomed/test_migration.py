"""biomed 0002: the single PM interval and last PM date become schedules, without loss, and back."""

from datetime import date, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("biomed", "0001_maintenance_schedules_and_loans"), ("assets", "0003_nearest_search_index")]
AFTER = [("biomed", "0002_migrate_pm_intervals_into_schedules"), ("assets", "0003_nearest_search_index")]


def migrate(targets=None):
    """To ``targets``; None: every app to its latest migration (leave the schema as the other tests need it)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_pm_data_moves_into_schedules_without_loss_and_back():
    try:
        check_forwards_and_back()
    finally:
        migrate()


def check_forwards_and_back():
    apps = migrate(BEFORE)
    AssetType = apps.get_model("assets", "AssetType")
    Asset = apps.get_model("assets", "Asset")
    apps.get_model("biomed", "MaintenanceSchedule").objects.all().delete()
    apps.get_model("biomed", "SchedulePlan").objects.all().delete()
    yearly = AssetType.objects.create(name="Legacy pump", slug="legacy-pump", default_pm_interval_days=365)
    quarterly = AssetType.objects.create(name="Legacy defib", slug="legacy-defib", default_pm_interval_days=90)
    common = {"manufacturer": "X", "model": "Y"}
    Asset.objects.create(asset_tag="L-1", asset_type=yearly, last_pm_date=date(2026, 1, 10), **common)
    Asset.objects.create(
        asset_tag="L-2", asset_type=yearly, pm_interval_days=30, last_pm_date=date(2026, 10, 1), **common
    )
    Asset.objects.create(asset_tag="L-3", asset_type=quarterly, in_service_date=date(2026, 6, 1), **common)
    Asset.objects.create(asset_tag="L-4", asset_type=quarterly, **common)

    apps = migrate(AFTER)
    Schedule = apps.get_model("biomed", "MaintenanceSchedule")
    Plan = apps.get_model("biomed", "SchedulePlan")
    plans = {p.asset_type.slug: (p.kind, p.interval_value, p.interval_unit) for p in Plan.objects.all()}
    assert plans == {"legacy-pump": ("pm", 365, "days"), "legacy-defib": ("pm", 90, "days")}
    rows = {
        s.asset.asset_tag: (s.kind, s.interval_value, s.overrides_plan, s.last_done, s.last_result, s.next_due)
        for s in Schedule.objects.select_related("asset")
    }
    assert rows == {
        "L-1": ("pm", 365, False, date(2026, 1, 10), "pass", date(2026, 1, 10) + timedelta(days=365)),
        "L-2": ("pm", 30, True, date(2026, 10, 1), "pass", date(2026, 10, 31)),
        "L-3": ("pm", 90, False, None, "", date(2026, 6, 1) + timedelta(days=90)),
        "L-4": ("pm", 90, False, None, "", None),
    }

    apps = migrate(BEFORE)  # reversible: the old columns get the schedules' values back
    Asset = apps.get_model("assets", "Asset")
    back = {a.asset_tag: (a.pm_interval_days, a.last_pm_date) for a in Asset.objects.filter(asset_tag__startswith="L-")}
    assert back == {
        "L-1": (None, date(2026, 1, 10)),
        "L-2": (30, date(2026, 10, 1)),
        "L-3": (None, None),
        "L-4": (None, None),
    }
