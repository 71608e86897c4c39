"""Move the single PM interval into schedules, without loss (docs/biomed.md, "Migration from the PM interval").

- Each asset type's ``default_pm_interval_days`` becomes the type's PM plan (every N days).
- Each asset gets a PM schedule from that plan: ``pm_interval_days`` (when set) becomes an override of the
  interval; ``last_pm_date`` becomes the last passing completion; the due date is computed as before
  (last PM, or the in-service date, plus the interval), so nothing that was overdue stops being overdue.
- Reversible: going back writes the PM schedule's last completion and override into the old columns.
"""

from datetime import timedelta

from django.db import migrations

BATCH = 2000


def forwards(apps, schema_editor):
    AssetType = apps.get_model("assets", "AssetType")
    Asset = apps.get_model("assets", "Asset")
    SchedulePlan = apps.get_model("biomed", "SchedulePlan")
    MaintenanceSchedule = apps.get_model("biomed", "MaintenanceSchedule")

    plans = {}
    for asset_type in AssetType.objects.all():
        plan, _ = SchedulePlan.objects.get_or_create(
            asset_type=asset_type,
            kind="pm",
            name="",
            defaults={"interval_value": asset_type.default_pm_interval_days, "interval_unit": "days"},
        )
        plans[asset_type.pk] = plan
    have = set(MaintenanceSchedule.objects.filter(kind="pm", name="").values_list("asset_id", flat=True))
    batch = []
    rows = Asset.objects.order_by("pk").values_list(
        "pk", "asset_type_id", "pm_interval_days", "last_pm_date", "in_service_date"
    )
    for pk, type_id, own_days, last_pm, in_service in rows.iterator(chunk_size=BATCH):
        if pk in have:
            continue
        plan = plans[type_id]
        days = own_days if own_days is not None else plan.interval_value
        base = last_pm or in_service
        batch.append(
            MaintenanceSchedule(
                asset_id=pk,
                plan=plan,
                kind="pm",
                name="",
                interval_value=days,
                interval_unit="days",
                checklist=[],
                lead_days=14,
                overrides_plan=own_days is not None,
                active=True,
                last_done=last_pm,
                last_result="pass" if last_pm else "",
                last_result_on=last_pm,
                next_due=base + timedelta(days=days) if base else None,
            )
        )
        if len(batch) >= BATCH:
            MaintenanceSchedule.objects.bulk_create(batch)
            batch = []
    MaintenanceSchedule.objects.bulk_create(batch)


def backwards(apps, schema_editor):
    Asset = apps.get_model("assets", "Asset")
    AssetType = apps.get_model("assets", "AssetType")
    MaintenanceSchedule = apps.get_model("biomed", "MaintenanceSchedule")
    SchedulePlan = apps.get_model("biomed", "SchedulePlan")
    for plan in SchedulePlan.objects.filter(kind="pm", name="", asset_type__isnull=False, interval_unit="days"):
        AssetType.objects.filter(pk=plan.asset_type_id).update(default_pm_interval_days=plan.interval_value)
    for schedule in MaintenanceSchedule.objects.filter(kind="pm", name="").iterator(chunk_size=BATCH):
        Asset.objects.filter(pk=schedule.asset_id).update(
            last_pm_date=schedule.last_done,
            pm_interval_days=schedule.interval_value
            if schedule.overrides_plan and schedule.interval_unit == "days"
            else None,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("biomed", "0001_maintenance_schedules_and_loans"),
        ("assets", "0003_nearest_search_index"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
