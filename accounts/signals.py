"""Security events for sign-in, and the WebSocket side of sign-out and role changes."""

from __future__ import annotations

import logging

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save
from django.dispatch import receiver

from accounts import services
from accounts.live import notify_user
from accounts.sessions import start_session_clock
from config.security_events import security_event


def _door(request) -> str:
    path = getattr(request, "path", "") or ""
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/map/"):
        return "map"
    if path.startswith("/api/"):
        return "api"
    return "other"


@receiver(user_logged_in, dispatch_uid="accounts-signed-in")
def _signed_in(sender, request, user, **kwargs):
    security_event(
        "auth.login",
        level=logging.INFO,
        user=user.get_username(),
        ip=services.client_address(request) if request is not None else None,
        path=getattr(request, "path", None),
        door=_door(request),
        second_factor=bool(getattr(user, "otp_device", None)),
    )
    if request is None or not hasattr(request, "session"):
        return
    start_session_clock(request)
    services.mark_signin_fresh(request)


@receiver(user_login_failed, dispatch_uid="accounts-sign-in-failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs):
    security_event(
        "auth.login_failed",
        username=str((credentials or {}).get("username", "")),
        ip=services.client_address(request) if request is not None else None,
        path=getattr(request, "path", None),
        door=_door(request),
        reason=kwargs.get("reason", "wrong username or password, or locked out"),
    )


@receiver(user_locked_out, dispatch_uid="accounts-locked-out")
def _locked_out(sender, request=None, username=None, ip_address=None, **kwargs):
    security_event(
        "auth.lockout",
        username=str(username or ""),
        ip=str(ip_address or ""),
        path=getattr(request, "path", None),
        door=_door(request),
    )


@receiver(user_logged_out, dispatch_uid="accounts-signed-out")
def _signed_out(sender, request, user, **kwargs):
    if user is None:
        return
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    security_event(
        "auth.logout",
        level=logging.INFO,
        user=user.get_username(),
        ip=services.client_address(request) if request is not None else None,
    )
    # Why: "signout", or "idle" / "max_age" when the session timed out (accounts/sessions.py), so that an open
    # map says the same as the request that found the session expired, whichever reaches the page first.
    reason = getattr(request, "session_end_reason", "signout") if request is not None else "signout"
    notify_user(user.pk, {"type": "session.ended", "session_key": session_key or "", "reason": reason})


def _access_changed(user_id: int) -> None:
    transaction.on_commit(lambda: notify_user(user_id, {"type": "access.changed"}))


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="accounts-roles-changed")
def _roles_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if action not in {"post_remove", "post_clear", "pre_clear"}:
        return
    if not reverse:
        _access_changed(instance.pk)
    elif isinstance(instance, Group):
        if action == "pre_clear":  # the members are gone after the clear: remember them now
            pk_set = set(instance.user_set.values_list("pk", flat=True))
        for user_id in pk_set or ():
            _access_changed(user_id)


@receiver(post_save, sender=get_user_model(), dispatch_uid="accounts-user-saved")
def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    # Deactivated, or no longer superuser: the consumer re-checks. A sign-in's last_login write is not a change.
    if not created and set(update_fields or ()) != {"last_login"}:
        _access_changed(instance.pk)
