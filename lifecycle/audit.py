"""The audit trail for changes that do not go through a lifecycle service: role (group) membership (here,
by signal) and API tokens (accounts.services api_token_issue / api_token_revoke / api_token_rotate call
``audit``). Each lands in the append-only change history (lifecycle.models.ChangeRecord) with who and when.

"Who" is the signed-in user of the request being served (config.security_events.current_actor, set by
SecurityEventMiddleware), so a membership changed on the admin's user form records the administrator;
from a management command or the shell it is recorded as the system (user blank).

Connected in LifecycleConfig.ready(). Also the other services call ``audit`` directly for their own events
(gateway tokens: locations.ingest.auth sends locations.signals.gateway_token_changed, connected here).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed

from config.security_events import current_actor, security_event
from lifecycle.history import record_changes
from locations.signals import gateway_token_changed


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


def on_gateway_token_changed(sender, *, token, user, before: dict, after: dict, **kwargs):
    """locations.signals.gateway_token_changed: a gateway token issued or revoked (locations.ingest.auth)."""
    record_changes(instance=token, user=user, before=before, after=after)


def connect() -> None:
    User = get_user_model()
    m2m_changed.connect(on_groups_changed, sender=User.groups.through, dispatch_uid="audit-group-membership")
    gateway_token_changed.connect(on_gateway_token_changed, dispatch_uid="audit-gateway-tokens")
