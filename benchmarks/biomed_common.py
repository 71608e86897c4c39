"""Benchmarks that bulk-create assets with the legacy PM columns turn them into schedules the way the data
migration does (lifecycle.biomed migration 0002): bulk_create sends no signals, so nothing else would."""

from __future__ import annotations

import importlib


def legacy_pm_into_schedules() -> None:
    from django.apps import apps

    migration = importlib.import_module("lifecycle.biomed.migrations.0002_migrate_pm_intervals_into_schedules")
    migration.forwards(apps, None)
