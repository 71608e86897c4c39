"""Clinical engineering runs the biomed programme in the admin: plans, schedules, scheduled work (record the
result), loans. Security views the loans (devices off site). Nobody deletes. Same mechanism as lifecycle 0005."""

import importlib

from django.db import migrations

_base = importlib.import_module("lifecycle.migrations.0005_admin_role_permissions")

VIEW, ADD, CHANGE = "view", "add", "change"
ROLE_PERMISSIONS = {
    "Clinical engineering": {
        "biomed": {
            "scheduleplan": (VIEW, ADD, CHANGE),
            "maintenanceschedule": (VIEW, ADD, CHANGE),
            "scheduledwork": (VIEW, CHANGE),
            "loan": (VIEW, ADD, CHANGE),
        }
    },
    "Security": {"biomed": {"loan": (VIEW,)}},
}


def _ensure(apps):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("biomed")
    if getattr(app_config, "models_module", None) is None:
        app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    _ensure(apps)
    for group_name, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_base._permissions_for(apps, grants))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group_name, grants in ROLE_PERMISSIONS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(*_base._permissions_for(apps, grants))


class Migration(migrations.Migration):
    dependencies = [
        ("biomed", "0002_migrate_pm_intervals_into_schedules"),
        ("lifecycle", "0005_admin_role_permissions"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
