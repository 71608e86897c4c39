"""Gateway credentials: per-gateway tokens and site collector tokens.

A token looks like ``gwt_<key>_<secret>``. The key is public and finds the row; the whole token's
SHA-256 is the only secret thing stored, and it is compared with ``hmac.compare_digest``. The raw
token is printed once, by ``manage.py issue_gateway_token``, and can never be shown again.

Gateway tokens are not users: the authentication class below returns a ``GatewayPrincipal`` that only
the sightings endpoint accepts, and DRF's user-token authentication never looks at this table, so a
gateway token cannot open any other API.

Verified tokens are cached in the process for ``INGEST_TOKEN_CACHE_SECONDS`` (a token check per
batch would otherwise be a query per request); a revocation saved in this process clears the cache at
once, and is announced through the shared "ingest" cache (Redis), which every process checks at most
every ``INGEST_TOKEN_REVOCATION_CHECK_SECONDS`` (1 s): a revoked token stops working everywhere within
about a second. Only if Redis is unreachable does it take up to the cache lifetime.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from config.security_events import current_actor, security_event
from locations.models import GatewayToken, Receiver, Site
from locations.signals import gateway_token_changed

TOKEN_PREFIX = "gwt"
_TOKEN_RE = re.compile(r"^gwt_([0-9a-f]{12})_([A-Za-z0-9_\-]{20,200})$")
# last_used_at is written at most this often per token, not on every batch.
LAST_USED_EVERY_S = 300.0


class GatewayTokenError(ValueError):
    """Issuing a token failed; the message says why (unknown gateway, unknown site...)."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: GatewayToken
    raw: str  # shown once, never stored


@dataclass(frozen=True, slots=True)
class GatewayCredential:
    """What a verified token allows: one gateway, or every gateway of one site."""

    token_id: int
    key: str
    gateway_id: str | None
    site_id: int | None

    @property
    def scope(self) -> str:
        return f"gateway {self.gateway_id}" if self.gateway_id else f"site collector (site id {self.site_id})"

    def may_post_for(self, gateway_id: str, *, gateway_site_id: int | None) -> bool:
        if self.gateway_id is not None:
            # surrogatepass: a body's gateway is whatever the client sent (a lone surrogate included); it is
            # compared, never refused here with a crash.
            return hmac.compare_digest(self.gateway_id.encode(), gateway_id.encode("utf-8", "surrogatepass"))
        return gateway_site_id is not None and gateway_site_id == self.site_id


class GatewayPrincipal:
    """request.user for a gateway: authenticated for the sightings endpoint, and nothing like a User."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None

    def __init__(self, credential: GatewayCredential):
        self.credential = credential

    def __str__(self):
        return self.credential.scope

    def has_perm(self, perm, obj=None) -> bool:
        return False


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- issuing and revoking


@transaction.atomic
def gateway_token_issue(
    *, gateway_id: str | None = None, site: str | None = None, label: str = "", user=None
) -> IssuedToken:
    """A new token for one gateway (``gateway_id``) or for a site's collector (``site`` code). ``user``: who
    issues it (default: the signed-in user of the current request), for the audit trail."""
    if (gateway_id is None) == (site is None):
        raise GatewayTokenError("give either a gateway id or a site code, not both and not neither")
    receiver = site_row = None
    if gateway_id is not None:
        receiver = Receiver.objects.filter(gateway_id=gateway_id).first()
        if receiver is None:
            raise GatewayTokenError(f"no receiver with gateway id {gateway_id!r} (import the floor plan first)")
    else:
        site_row = Site.objects.filter(code=site).first()
        if site_row is None:
            known = ", ".join(Site.objects.values_list("code", flat=True)[:10]) or "none"
            raise GatewayTokenError(f"no site with code {site!r} (known: {known})")
    for _ in range(5):
        key = secrets.token_hex(6)
        raw = f"{TOKEN_PREFIX}_{key}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = GatewayToken.objects.create(
                    key=key, token_hash=hash_token(raw), receiver=receiver, site=site_row, label=label
                )
        except IntegrityError:  # a key collision: 1 in 2^48, try another
            continue
        _audit(token, user, before={}, after={"issued": token.created_at, "scope": str(receiver or site_row)})
        return IssuedToken(token=token, raw=raw)
    raise GatewayTokenError("could not find a free token key; try again")


@transaction.atomic
def gateway_token_revoke(*, token: GatewayToken, user=None) -> bool:
    """Revoke a token (kept for the record, never deleted). False if it was already revoked."""
    updated = GatewayToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    forget_cached_credentials()
    if updated:
        _audit(token, user, before={"revoked": None}, after={"revoked": token.revoked_at})
        transaction.on_commit(announce_revocation)
    return bool(updated)


def _audit(token: GatewayToken, user, *, before: dict, after: dict) -> None:
    """Into the change history, with who did it: the lifecycle's audit trail receives this signal."""
    gateway_token_changed.send(
        sender=GatewayToken, token=token, user=user or current_actor(), before=before, after=after
    )


# --------------------------------------------------------------------------- revocation, in every process

REVOCATION_KEY = "gateway-token-revocations"
_revocations = {"seen": None, "next_check": 0.0}


def announce_revocation(**kwargs) -> None:
    """Tell every process (through the shared "ingest" cache, Redis in production) to drop its verified
    tokens: each checks this key at most every INGEST_TOKEN_REVOCATION_CHECK_SECONDS."""
    try:
        caches["ingest"].set(REVOCATION_KEY, secrets.token_hex(8), timeout=None)
    except Exception:  # Redis down: the other processes fall back to INGEST_TOKEN_CACHE_SECONDS
        logging.getLogger(__name__).warning("could not announce a gateway token revocation", exc_info=True)


def _check_revocations(wall: float) -> None:
    if wall < _revocations["next_check"]:
        return
    _revocations["next_check"] = wall + float(getattr(settings, "INGEST_TOKEN_REVOCATION_CHECK_SECONDS", 1.0))
    try:
        current = caches["ingest"].get(REVOCATION_KEY)
    except Exception:
        return
    if current != _revocations["seen"]:
        _revocations["seen"] = current
        forget_cached_credentials()


# --------------------------------------------------------------------------- verifying

_cache: dict[str, tuple[GatewayCredential, float]] = {}
_touched: dict[int, float] = {}
_cache_lock = threading.Lock()


def forget_cached_credentials(**kwargs) -> None:
    with _cache_lock:
        _cache.clear()
        _touched.clear()


def _announce_after_commit(**kwargs) -> None:
    transaction.on_commit(announce_revocation)


post_save.connect(forget_cached_credentials, sender=GatewayToken, dispatch_uid="ingest-token-cache-save")
post_delete.connect(forget_cached_credentials, sender=GatewayToken, dispatch_uid="ingest-token-cache-delete")
post_save.connect(_announce_after_commit, sender=GatewayToken, dispatch_uid="ingest-token-announce-save")
post_delete.connect(_announce_after_commit, sender=GatewayToken, dispatch_uid="ingest-token-announce-delete")


def credential_for_token(raw: str) -> GatewayCredential | None:
    """The credential a raw token stands for, or None if it is malformed, unknown or revoked."""
    match = _TOKEN_RE.match(raw)
    if match is None:
        return None
    digest = hash_token(raw)
    wall = time.monotonic()
    _check_revocations(wall)
    with _cache_lock:
        cached = _cache.get(digest)
    if cached is not None and cached[1] > wall:
        credential = cached[0]
    else:
        row = (
            GatewayToken.objects.filter(key=match.group(1), revoked_at__isnull=True)
            .values("pk", "key", "token_hash", "receiver__gateway_id", "site_id")
            .first()
        )
        # Compare even when no row was found, so the time taken says nothing about which keys exist.
        stored = row["token_hash"] if row else "0" * 64
        if not hmac.compare_digest(stored, digest) or row is None:
            return None
        credential = GatewayCredential(
            token_id=row["pk"], key=row["key"], gateway_id=row["receiver__gateway_id"], site_id=row["site_id"]
        )
        with _cache_lock:
            _cache[digest] = (credential, wall + settings.INGEST_TOKEN_CACHE_SECONDS)
    _note_use(credential.token_id, wall)
    return credential


_used: set[int] = set()  # tokens used since the last write of last_used_at
_used_written_at = [time.monotonic()]


def _note_use(token_id: int, wall: float) -> None:
    """last_used_at is for people (is this gateway still posting?): written for all the tokens used, in one
    UPDATE at most every LAST_USED_EVERY_S per process, never once per batch."""
    with _cache_lock:
        first_use = token_id not in _touched
        _touched[token_id] = wall
        _used.add(token_id)
        due = first_use or wall - _used_written_at[0] >= LAST_USED_EVERY_S
        if not due:
            return
        ids = list(_used)
        _used.clear()
        _used_written_at[0] = wall
    GatewayToken.objects.filter(pk__in=ids).update(last_used_at=timezone.now())


def _token_from_header(request) -> str | None:
    """Bearer <token>, or HTTP Basic with the token as the password (for gateways that only do Basic)."""
    header = get_authorization_header(request)
    if not header:
        return None
    parts = header.split()
    scheme = parts[0].lower()
    if scheme not in (b"bearer", b"basic"):
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <gateway token>'")
    try:
        value = parts[1].decode("ascii")
        if scheme == b"basic":
            value = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
    except (UnicodeDecodeError, binascii.Error):
        raise exceptions.AuthenticationFailed("Authorization header is not readable") from None
    return value


# --------------------------------------------------------------------------- failed authentication


def _failure_rate() -> tuple[int, int] | None:
    """GATEWAY_AUTH_FAILURE_RATE ("20/min") as (failures, window seconds), or None for no limit."""
    rate = settings.GATEWAY_AUTH_FAILURE_RATE
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[:1]]


def note_gateway_auth_failure(*, source: str, door: str, reason: str, token_key: str = "", **fields) -> int | None:
    """Count a failed gateway authentication from ``source`` (the client address for HTTP, the topic's gateway
    for MQTT). Each failure is a security event until the source passes GATEWAY_AUTH_FAILURE_RATE in the
    current window; then one "gateway.auth_throttled" event, and silence until the window ends. Returns the
    seconds left in the window when the source is over the limit (the HTTP front answers 429), else None.

    Only failures are counted: a valid token is accepted whatever its address did, so a flood of bad tokens
    from a gateway's address (or a spoofed one) never locks the real gateway out.
    """
    limit = _failure_rate()
    if limit is None:
        security_event("gateway.auth_failed", source=source, door=door, reason=reason, token=token_key, **fields)
        return None
    allowed, window = limit
    now = time.time()
    window_start = int(now // window * window)
    cache = caches["ingest"]
    key = f"gw-auth-fail:{source}:{window_start}"
    cache.add(key, 0, timeout=window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 5)
        count = 1
    if count <= allowed:
        security_event("gateway.auth_failed", source=source, door=door, reason=reason, token=token_key, **fields)
        return None
    if count == allowed + 1:
        security_event("gateway.auth_throttled", source=source, door=door, failures=count, window_s=window)
    return max(1, int(window_start + window - now))


class GatewayTokenAuthentication(BaseAuthentication):
    """DRF authentication for gateways: ``Authorization: Bearer gwt_...``.

    Failures are counted per client address (note_gateway_auth_failure): over GATEWAY_AUTH_FAILURE_RATE the
    answer is 429 with Retry-After instead of 401, but a valid token is always accepted.
    """

    def authenticate(self, request):
        try:
            raw = _token_from_header(request)
        except exceptions.AuthenticationFailed as exc:
            self._refuse(request, str(exc.detail), "")
            raise
        if raw is None:
            return None
        credential = credential_for_token(raw)
        if credential is None:
            message = "gateway token is not valid (unknown, malformed or revoked)"
            match = _TOKEN_RE.match(raw)
            self._refuse(request, message, match.group(1) if match else "")
            raise exceptions.AuthenticationFailed(message)
        return GatewayPrincipal(credential), credential

    def _refuse(self, request, reason: str, token_key: str) -> None:
        source = request.META.get("REMOTE_ADDR", "") or "unknown"
        wait = note_gateway_auth_failure(
            source=source,
            door="http",
            reason=reason,
            token_key=token_key,
            ip=source,
            path=request.path,
            key=token_key or "(malformed)",
        )
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait, detail=f"too many failed gateway authentications from {source}; retry in {wait} s"
            )

    def authenticate_header(self, request):
        return 'Bearer realm="rtls-gateways"'
