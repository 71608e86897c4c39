"""Signal receivers of the biomed app (connected in BiomedConfig.ready)."""

from __future__ import annotations

from lifecycle.biomed.models import SchedulePlan
from lifecycle.biomed.services import schedules_materialise


def on_asset_saved(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        schedules_materialise(asset_ids=[instance.pk])


def on_asset_type_saved(sender, instance, created, raw=False, **kwargs):
    """A new asset type gets a PM plan of its ``default_pm_interval_days`` (365 unless given), as every type had
    a PM interval before schedules existed; biomed staff change or remove it in the admin."""
    if created and not raw:
        SchedulePlan.objects.get_or_create(
            asset_type=instance,
            kind="pm",
            name="",
            defaults={"interval_value": instance.default_pm_interval_days, "interval_unit": "days"},
        )
