"""Which admin pages each role may use (docs/admin.md), as Django model permissions on the role groups.

- Clinical engineering runs its day from the admin: it views everything it works with and adds or
  changes assets, tags, floor plans, receivers, gateway tokens, work orders, recalls, room-type rules,
  par levels and alerts. Nobody deletes: records are history (PROTECT, append-only).
- Security sees the inventory and the audit trail (transition log, change history, tag bindings,
  gateway tokens) and changes none of it. Its checklist and sign-off work is granted by role in the
  decommissioning admin, which the services check again.
- Nurse and Dispatch get nothing: they use the map and the API. An administrator can still give one
  person admin access (staff status plus permissions) by hand.

Only ever adds the permissions below; an administrator's own additions are left alone.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW, ADD, CHANGE = "view", "add", "change"

ROLE_PERMISSIONS = {
    "Clinical engineering": {
        "assets": {
            "assettype": (VIEW, ADD, CHANGE),
            "asset": (VIEW, ADD, CHANGE),
            "tag": (VIEW, ADD, CHANGE),
            "tagbinding": (VIEW,),
        },
        "locations": {
            "site": (VIEW, ADD, CHANGE),
            "building": (VIEW, ADD, CHANGE),
            "floor": (VIEW, ADD, CHANGE),
            "room": (VIEW, ADD, CHANGE),
            "receiver": (VIEW, ADD, CHANGE),
            "roominterval": (VIEW,),
            "gatewaytoken": (VIEW, ADD, CHANGE),
        },
        "lifecycle": {
            "transitionlog": (VIEW,),
            "changerecord": (VIEW,),
            "roomtyperule": (VIEW, ADD, CHANGE),
            "workorder": (VIEW, ADD, CHANGE),
            "recall": (VIEW, ADD, CHANGE),
        },
        "alerts": {
            "parlevel": (VIEW, ADD, CHANGE),
            "alert": (VIEW, CHANGE),
        },
    },
    "Security": {
        "assets": {
            "assettype": (VIEW,),
            "asset": (VIEW,),
            "tag": (VIEW,),
            "tagbinding": (VIEW,),
        },
        "locations": {
            "gatewaytoken": (VIEW,),
        },
        "lifecycle": {
            "transitionlog": (VIEW,),
            "changerecord": (VIEW,),
        },
    },
}


def _ensure_permissions(apps) -> None:
    """Permissions are normally created after all migrations ran; this one needs them now."""
    labels = {label for grants in ROLE_PERMISSIONS.values() for label in grants}
    for label in sorted(labels):
        app_config = apps.get_app_config(label)
        if getattr(app_config, "models_module", None) is None:
            app_config.models_module = True  # a migration's app registry has no models module
        create_permissions(app_config, apps=apps, verbosity=0)


def _permissions_for(apps, grants):
    Permission = apps.get_model("auth", "Permission")
    wanted = [
        (label, model, f"{action}_{model}")
        for label, models in grants.items()
        for model, actions in models.items()
        for action in actions
    ]
    found = {
        (p.content_type.app_label, p.content_type.model, p.codename): p
        for p in Permission.objects.filter(content_type__app_label__in=list(grants)).select_related("content_type")
    }
    missing = [f"{label}.{codename}" for label, model, codename in wanted if (label, model, codename) not in found]
    if missing:
        raise RuntimeError(f"permissions not found: {', '.join(missing)}")
    return [found[key] for key in wanted]


def grant_role_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    _ensure_permissions(apps)
    for group_name, grants in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.add(*_permissions_for(apps, grants))


def revoke_role_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group_name, grants in ROLE_PERMISSIONS.items():
        group = Group.objects.filter(name=group_name).first()
        if group is not None:
            group.permissions.remove(*_permissions_for(apps, grants))


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("lifecycle", "0004_append_only_triggers"),
        ("assets", "0002_asset_lifecycle_state_and_pm"),
        ("locations", "0003_gateway_token"),
        ("alerts", "0001_initial"),
    ]

    operations = [migrations.RunPython(grant_role_permissions, revoke_role_permissions)]
