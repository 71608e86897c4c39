"""The role groups' admin permissions, derived from the policy table (declarations/policy.py).

Each staff role's group holds exactly the Django model permissions of the admin actions the table allows
it (``declarations.policy.group_permissions``). Permissions outside the table's ``ADMIN_PERMISSIONS`` (an
administrator's own additions, given by hand) are left alone. Replaces what 0005 wrote by hand; after a
change to the table, add a migration that runs ``sync_role_permissions`` again (tests/security/
test_policy.py fails until the database matches the table).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from declarations.policy import ADMIN_PERMISSIONS, Role, group_permissions

MANAGED = frozenset(permission for permissions in ADMIN_PERMISSIONS.values() for permission in permissions)


def _migrated(apps) -> frozenset[str]:
    """The table's permissions whose model exists at this point of the migration graph. An app migrated
    later (lifecycle.biomed) runs this sync again in its own migration, once its models exist."""
    present = set()
    for name in MANAGED:
        label, codename = name.split(".")
        try:
            apps.get_model(label, codename.split("_", 1)[1])
        except LookupError:
            continue
        present.add(name)
    return frozenset(present)


def _ensure_permissions(apps, managed) -> None:
    """Permissions are normally created after all migrations ran; this one needs them now."""
    for label in sorted({permission.split(".")[0] for permission in managed}):
        app_config = apps.get_app_config(label)
        if getattr(app_config, "models_module", None) is None:
            app_config.models_module = True  # a migration's app registry has no models module
        create_permissions(app_config, apps=apps, verbosity=0)


def _permissions(apps, names):
    Permission = apps.get_model("auth", "Permission")
    found = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.select_related("content_type").filter(
            content_type__app_label__in={name.split(".")[0] for name in names}
        )
    }
    missing = sorted(set(names) - set(found))
    if missing:
        raise RuntimeError(f"permissions named by declarations/policy.py not found: {', '.join(missing)}")
    return [found[name] for name in sorted(names)]


def sync_role_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    managed = _migrated(apps)
    _ensure_permissions(apps, managed)
    for role in Role:
        group, _ = Group.objects.get_or_create(name=role.group_name)
        wanted = group_permissions(role) & managed
        group.permissions.remove(*_permissions(apps, managed - wanted))
        group.permissions.add(*_permissions(apps, wanted))


class Migration(migrations.Migration):
    dependencies = [
        ("lifecycle", "0006_room_rules_only_take_availability_away"),
    ]

    operations = [migrations.RunPython(sync_role_permissions, migrations.RunPython.noop)]
