"""Sign-in rules: two-factor requirement, fresh sign-in, API tokens (issue, rotate, revoke, verify), step-up.

Thin callers (the admin, the map, the API, management commands) use these functions; the rules live here.
docs/security.md describes them for people.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import ApiToken, ApiTokenKind
from config.security_events import security_event
from lifecycle.audit import audit

# The session key holding when the user last proved who they are (password, plus TOTP where required).
FRESH_SIGNIN_SESSION_KEY = "signin_verified_at"
KEY_LENGTH = 12
# last_used_at is written at most this often per token, not on every request.
LAST_USED_EVERY = timedelta(minutes=5)


class SignInError(Exception):
    """A refused sign-in, token or step-up: ``code`` is the API's machine word, ``message`` says why."""

    def __init__(self, code: str, message: str, status: int = 403):
        self.code, self.message, self.status = code, message, status
        super().__init__(message)


# --------------------------------------------------------------------------- two-factor (TOTP)


def otp_required(user) -> bool:
    """Whether this user must give a TOTP code to sign in to the admin (settings OTP_REQUIRED_*)."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser and settings.OTP_REQUIRED_FOR_SUPERUSERS:
        return True
    required = set(settings.OTP_REQUIRED_ROLES)
    return bool(required) and user.groups.filter(name__in=required).exists()


def totp_devices(user) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk"))


def totp_verify(user, code: str) -> TOTPDevice | None:
    """The user's TOTP device that accepts ``code`` (each code works once), or None."""
    code = re.sub(r"\s", "", code or "")
    if not re.fullmatch(r"\d{6,8}", code):
        return None
    with transaction.atomic():
        devices = list(TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"))
        if devices and not any(device.verify_is_allowed()[0] for device in devices):
            # django-otp's back-off after wrong codes (1 s, 2 s, 4 s...): say so rather than "wrong code".
            raise SignInError(
                "otp_throttled", "Too many wrong codes in a row: wait a few seconds, then try again.", 429
            )
        for device in devices:
            if device.verify_token(code):
                return device
    return None


def totp_enroll(user, *, name: str = "authenticator", replace: bool = False) -> TOTPDevice:
    """A confirmed TOTP device for the user (its ``config_url`` is the otpauth:// URI to scan)."""
    with transaction.atomic():
        if replace:
            TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
    security_event("totp.enrolled", username=user.get_username(), device=device.persistent_id)
    return device


def second_factor_check(request, user, code: str, *, door: str) -> TOTPDevice | None:
    """After a correct password: the TOTP step. Returns the device that verified, None when the user needs no
    second factor and gave none; raises SignInError otherwise (counted as a failed sign-in for the lockout)."""
    if not otp_required(user) and not (code and totp_devices(user)):
        return None
    if not totp_devices(user):
        _count_failure(request, user, door, "no authenticator set up")
        raise SignInError(
            "otp_not_set_up",
            "Your role needs two-factor sign-in, and no authenticator app is set up for you yet: ask an "
            "administrator to run `manage.py totp_enroll " + user.get_username() + "`.",
        )
    if not code:
        raise SignInError("otp_required", "Enter the 6-digit code from your authenticator app.", 401)
    device = totp_verify(user, code)
    if device is None:
        _count_failure(request, user, door, "wrong one-time code")
        raise SignInError("otp_invalid", "The one-time code is wrong or was already used; wait for the next one.", 401)
    return device


def _count_failure(request, user, door: str, reason: str) -> None:
    """A wrong second factor counts like a wrong password: django-axes hears it and locks out."""
    user_login_failed.send(
        sender=__name__, credentials={"username": user.get_username()}, request=request, reason=reason, door=door
    )


# --------------------------------------------------------------------------- fresh sign-in


def mark_signin_fresh(request) -> None:
    request.session[FRESH_SIGNIN_SESSION_KEY] = timezone.now().timestamp()


def session_signin_is_fresh(request) -> bool:
    """Whether the session's user proved who they are (password, and TOTP if required) within
    FRESH_SIGNIN_MINUTES."""
    session = getattr(request, "session", None)
    if session is None or not request.user.is_authenticated:
        return False
    at = session.get(FRESH_SIGNIN_SESSION_KEY)
    if at is None:
        return False
    if otp_required(request.user) and not (hasattr(request.user, "is_verified") and request.user.is_verified()):
        return False
    return timezone.now().timestamp() - float(at) <= settings.FRESH_SIGNIN_MINUTES * 60


def request_signin_is_fresh(request) -> bool:
    """Whether the credential ``request`` came with proves a fresh sign-in: a step-up token, or (no token) a
    session signed in within FRESH_SIGNIN_MINUTES. A long-lived API token never does. DRF sets ``auth`` on
    the Django request; the admin and the map have none (their session is the credential).
    config.access.fresh_signin_check asks this (bound in AccountsConfig.ready())."""
    token = getattr(request, "auth", None)
    if isinstance(token, ApiToken):
        return token.is_step_up
    return session_signin_is_fresh(request)


def reauthenticate(request, *, password: str, code: str) -> None:
    """Prove again, in a signed-in session, that it is still this user: password and TOTP (where required)."""
    user = request.user
    checked = authenticate(request, username=user.get_username(), password=password)
    if checked is None or checked.pk != user.pk:
        if getattr(request, "axes_locked_out", False):
            raise SignInError("locked_out", "Too many failed attempts: try again later.", 429)
        raise SignInError("password_invalid", "The password is wrong.", 401)
    device = second_factor_check(request, user, code, door="reauth")
    if device is not None:
        otp_login(request, device)
    mark_signin_fresh(request)
    security_event("signin.fresh", username=user.get_username(), address=client_address(request))


# --------------------------------------------------------------------------- API tokens


@dataclass(frozen=True, slots=True)
class IssuedApiToken:
    token: ApiToken
    raw: str  # shown once, never stored


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _audit_token(token: ApiToken, change: dict, *, by) -> None:
    """Who issued or revoked which token, and when: the append-only change history of the token's user
    (lifecycle.audit). Only the public key part is recorded, never the secret. A rotation is a revoke plus
    an issue. ``by`` blank: the signed-in user of the request, else the system (a command)."""

    audit(instance=token.user, changes={"api_token": change}, user=by)


def api_token_issue(
    *,
    user,
    label: str = "",
    kind: str = ApiTokenKind.API,
    lifetime: timedelta | None = None,
    issued_by=None,
) -> IssuedApiToken:
    """A new token for ``user``; the raw value is in the result and nowhere else."""
    if not user.is_active:
        raise SignInError("inactive", f"user {user.get_username()!r} is inactive; a token for it would not work")
    if lifetime is None:
        lifetime = (
            timedelta(minutes=settings.FRESH_SIGNIN_MINUTES)
            if kind == ApiTokenKind.STEP_UP
            else timedelta(days=settings.API_TOKEN_DAYS)
        )
    now = timezone.now()
    for _ in range(5):
        raw = secrets.token_hex(KEY_LENGTH // 2) + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    key=raw[:KEY_LENGTH],
                    digest=hash_token(raw),
                    kind=kind,
                    label=label[:100],
                    created_at=now,
                    expires_at=now + lifetime,
                    issued_by=issued_by,
                )
                _audit_token(token, {"from": None, "to": f"issued {token.key} ({token.kind})"}, by=issued_by)
        except IntegrityError:  # a key collision: 1 in 2^48, try another
            continue
        security_event(
            "api_token.issued",
            username=user.get_username(),
            token=token.key,
            token_kind=str(kind),
            expires_at=token.expires_at.isoformat(),
            by=issued_by.get_username() if issued_by else "",
        )
        return IssuedApiToken(token=token, raw=raw)
    raise SignInError("conflict", "could not find a free token key; try again", 409)


def api_token_revoke(*, token: ApiToken, by=None) -> bool:
    """Revoke a token (the row is kept for the record). False if it was already revoked."""
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    if updated:
        _audit_token(token, {"from": f"{token.key} ({token.kind})", "to": "revoked"}, by=by)
        security_event(
            "api_token.revoked",
            username=token.user.get_username(),
            token=token.key,
            by=by.get_username() if by else "",
        )
    return bool(updated)


@transaction.atomic
def api_token_rotate(*, user, label: str = "", issued_by=None, lifetime: timedelta | None = None) -> IssuedApiToken:
    """Revoke every live long-lived token of the user and issue a new one."""
    for token in ApiToken.objects.select_for_update().filter(user=user, kind=ApiTokenKind.API, revoked_at__isnull=True):
        api_token_revoke(token=token, by=issued_by)
    return api_token_issue(user=user, label=label, issued_by=issued_by, lifetime=lifetime)


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The live token a raw value stands for, or None (unknown, wrong, expired or revoked)."""
    if not raw or len(raw) < 32 or len(raw) > 200:
        return None
    row = ApiToken.objects.select_related("user").filter(key=raw[:KEY_LENGTH]).first()
    stored = row.digest if row else "0" * 64  # compare even without a row: the time says nothing
    if not hmac.compare_digest(stored, hash_token(raw)) or row is None:
        return None
    now = timezone.now()
    if not row.is_live(now):
        return None
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def step_up_issue(request, *, username: str, password: str, code: str) -> IssuedApiToken:
    """A short-lived step-up token for an API client: password and second factor, under the lockout."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        if getattr(request, "axes_locked_out", False):
            raise SignInError("locked_out", "Too many failed sign-in attempts: try again later.", 429)
        raise SignInError("credentials_invalid", "The username or password is wrong.", 401)
    if not totp_devices(user):
        raise SignInError(
            "otp_not_set_up",
            "A step-up token needs a second factor, and no authenticator app is set up for this user: ask an "
            "administrator to run `manage.py totp_enroll " + user.get_username() + "`.",
        )
    if not code:
        raise SignInError("otp_required", "Send the 6-digit code from the authenticator app as otp_code.", 401)
    if totp_verify(user, code) is None:
        _count_failure(request, user, "step_up", "wrong one-time code")
        if getattr(request, "axes_locked_out", False):
            raise SignInError("locked_out", "Too many failed sign-in attempts: try again later.", 429)
        raise SignInError("otp_invalid", "The one-time code is wrong or was already used; wait for the next one.", 401)
    issued = api_token_issue(user=user, kind=ApiTokenKind.STEP_UP, label="step-up")
    security_event("signin.step_up", username=user.get_username(), address=client_address(request), door="api")
    return issued


# --------------------------------------------------------------------------- helpers


def client_address(request) -> str:
    return (getattr(request, "META", {}) or {}).get("REMOTE_ADDR", "") or ""
