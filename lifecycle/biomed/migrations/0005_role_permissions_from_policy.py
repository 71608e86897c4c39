"""The biomed programme's admin permissions come from the policy table (declarations/policy.py:
ADMIN_BIOMED_PROGRAMME for Clinical engineering, ADMIN_LOANS_VIEW for Security too), like every other
admin permission: run lifecycle 0007's sync again now that the biomed models exist."""

import importlib

from django.db import migrations

_sync = importlib.import_module("lifecycle.migrations.0007_role_permissions_from_policy")


class Migration(migrations.Migration):
    dependencies = [
        ("biomed", "0004_utilisation_rollups"),
        ("lifecycle", "0008_scheduled_work_order_kinds"),
    ]

    operations = [migrations.RunPython(_sync.sync_role_permissions, migrations.RunPython.noop)]
