"""The audit trail for changes that do not go through a lifecycle service: role (group) membership, a user's
superuser, staff and active flags, permissions given to a user or a group, and edits of asset types, rooms and
receivers (here, by signal); API tokens (accounts.services api_token_issue / api_token_revoke /
api_token_rotate call ``audit``). Each lands in the append-only change history
(lifecycle.models.ChangeRecord) with who and when; what grants privileges is also a security event.

"Who" is the signed-in user of the request being served (config.security_events.current_actor, set by
SecurityEventMiddleware), so a membership changed on the admin's user form records the administrator;
from a management command or the shell it is recorded as the system (user blank).

Connected in LifecycleConfig.ready(). Also the other services call ``audit`` directly for their own events
(gateway tokens: locations.ingest.auth sends locations.signals.gateway_token_changed, connected here).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_save, pre_save

from assets.models import AssetType
from config.security_events import current_actor, security_event
from lifecycle.history import record_changes, snapshot
from locations.models import Receiver, Room
from locations.signals import gateway_token_changed

# A user's flags that grant or take away access: every change is in the trail and the security log.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "is_active")
# Configuration whose edits are in the trail, less the fields the location pipeline keeps writing. An asset
# type's high-risk and life-support flags decide the accreditation report; rooms and receivers where
# equipment is placed.
CONFIGURATION = {AssetType: (), Room: (), Receiver: ("last_heard",)}


def audit(*, instance, changes: dict, user=None):
    """Record ``changes`` ({field: {"from": a, "to": b}}) on ``instance`` in the change history."""
    before = {name: change["from"] for name, change in changes.items()}
    after = {name: change["to"] for name, change in changes.items()}
    return record_changes(instance=instance, user=user or current_actor(), before=before, after=after)


def _group_names(pks) -> list[str]:
    return sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))


def on_groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """user.groups.add/remove/clear, and group.user_set.add/remove/clear (reverse)."""
    if action not in ("pre_clear", "post_add", "post_remove", "post_clear"):
        return
    User = get_user_model()
    if action == "pre_clear":  # remember what is about to go: post_clear no longer knows
        if reverse:
            instance._audit_cleared = list(instance.user_set.values_list("pk", flat=True))
        else:
            instance._audit_cleared = list(instance.groups.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = set(getattr(instance, "_audit_cleared", []))
        action = "post_remove"
    if not pk_set:
        return
    verb = "added" if action == "post_add" else "removed"
    if not reverse:  # instance is a user, pk_set are groups
        pairs = [(instance, name) for name in _group_names(pk_set)]
    else:  # instance is a group, pk_set are users
        pairs = [(user, instance.name) for user in User.objects.filter(pk__in=pk_set)]
    for user, group in pairs:
        change = {"from": None, "to": group} if verb == "added" else {"from": group, "to": None}
        audit(instance=user, changes={"role": change})
        actor = current_actor()
        security_event(
            f"role.{verb}",
            user=user.get_username(),
            role=group,
            by=actor.get_username() if actor is not None else "system",
        )


def _actor_name() -> str:
    actor = current_actor()
    return actor.get_username() if actor is not None else "system"


def on_user_pre_save(sender, instance, raw=False, update_fields=None, **kwargs):
    """Remember the stored privilege flags (one query), unless this save cannot change them (last_login)."""
    if raw or (update_fields is not None and not set(update_fields) & set(PRIVILEGE_FIELDS)):
        instance._audit_privileges = None
    elif instance._state.adding:
        instance._audit_privileges = {}
    else:
        stored = sender.objects.filter(pk=instance.pk).values(*PRIVILEGE_FIELDS).first()
        instance._audit_privileges = stored or {}


def on_user_saved(sender, instance, created, raw=False, **kwargs):
    before = instance.__dict__.pop("_audit_privileges", None)
    if raw or before is None:
        return
    after = {name: getattr(instance, name) for name in PRIVILEGE_FIELDS}
    if created or not before:
        # A new user is recorded when created with a privilege (createsuperuser, the shell); not every new
        # active account.
        after = {name: value for name, value in after.items() if value and name != "is_active"}
        before = {}
    changed = [name for name in PRIVILEGE_FIELDS if name in after and before.get(name) != after[name]]
    if not changed:
        return
    record_changes(
        instance=instance,
        user=current_actor(),
        before={name: before[name] for name in changed} if before else {},
        after={name: after[name] for name in changed},
    )
    for name in changed:
        security_event(
            "user.privilege_changed",
            user=instance.get_username(),
            field=name,
            **{"from": before.get(name), "to": after[name]},
            by=_actor_name(),
        )


def _permission_names(pks) -> list[str]:
    rows = Permission.objects.filter(pk__in=pks).values_list("content_type__app_label", "codename")
    return sorted(f"{app}.{codename}" for app, codename in rows)


def on_permissions_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """user.user_permissions and group.permissions add/remove/clear, from either side (permission.user_set,
    permission.group_set): a permission given to a user directly, or to a role's group, is a privilege."""
    if action not in ("pre_clear", "post_add", "post_remove", "post_clear"):
        return
    User = get_user_model()
    holder_model = User if sender is User.user_permissions.through else Group
    if action == "pre_clear":  # remember what is about to go: post_clear no longer knows
        if reverse:  # instance is a permission
            holders = instance.user_set if holder_model is User else instance.group_set
        else:
            holders = instance.user_permissions if holder_model is User else instance.permissions
        instance._audit_cleared_permissions = list(holders.values_list("pk", flat=True))
        return
    if action == "post_clear":
        pk_set = set(getattr(instance, "_audit_cleared_permissions", []))
        action = "post_remove"
    if not pk_set:
        return
    verb = "added" if action == "post_add" else "removed"
    if not reverse:  # instance is the user or group, pk_set are permissions
        pairs = [(instance, name) for name in _permission_names(pk_set)]
    else:  # instance is a permission, pk_set are users or groups
        [name] = _permission_names([instance.pk])
        pairs = [(holder, name) for holder in holder_model.objects.filter(pk__in=pk_set)]
    for holder, name in pairs:
        change = {"from": None, "to": name} if verb == "added" else {"from": name, "to": None}
        audit(instance=holder, changes={"permission": change})
        who = {"user": holder.get_username()} if holder_model is User else {"group": holder.name}
        security_event(f"permission.{verb}", **who, permission=name, by=_actor_name())


def on_configuration_pre_save(sender, instance, raw=False, **kwargs):
    if raw or sender not in CONFIGURATION:
        return
    stored = None if instance._state.adding else sender.objects.filter(pk=instance.pk).first()
    instance._audit_before = {} if stored is None else snapshot(stored, exclude=CONFIGURATION[sender])


def on_configuration_saved(sender, instance, raw=False, **kwargs):
    before = instance.__dict__.pop("_audit_before", None)
    if raw or before is None:
        return
    record_changes(
        instance=instance, user=current_actor(), before=before, after=snapshot(instance, exclude=CONFIGURATION[sender])
    )


def on_gateway_token_changed(sender, *, token, user, before: dict, after: dict, **kwargs):
    """locations.signals.gateway_token_changed: a gateway token issued or revoked (locations.ingest.auth)."""
    record_changes(instance=token, user=user, before=before, after=after)


def connect() -> None:
    User = get_user_model()
    m2m_changed.connect(on_groups_changed, sender=User.groups.through, dispatch_uid="audit-group-membership")
    pre_save.connect(on_user_pre_save, sender=User, dispatch_uid="audit-user-privileges-before")
    post_save.connect(on_user_saved, sender=User, dispatch_uid="audit-user-privileges")
    for through in (User.user_permissions.through, Group.permissions.through):
        m2m_changed.connect(on_permissions_changed, sender=through, dispatch_uid=f"audit-permissions-{through}")
    for model in CONFIGURATION:
        pre_save.connect(on_configuration_pre_save, sender=model, dispatch_uid=f"audit-before-{model.__name__}")
        post_save.connect(on_configuration_saved, sender=model, dispatch_uid=f"audit-{model.__name__}")
    gateway_token_changed.connect(on_gateway_token_changed, dispatch_uid="audit-gateway-tokens")
