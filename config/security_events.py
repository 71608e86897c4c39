"""Security events: one structured log stream (JSON lines on the ``security`` logger) for a SIEM.

Call ``security_event(kind, **fields)`` wherever something security-relevant happens: a sign-in, a
failed sign-in, a refused request (401/403), a refused sign-off, a gateway that failed to authenticate,
a webhook address refused. Each call writes ONE line of JSON:

    {"ts": "2026-12-06T12:00:00.123+00:00", "level": "WARNING", "kind": "auth.login_failed",
     "username": "nurse", "ip": "10.1.2.3", "path": "/admin/login/"}

Strings from outside (user names, MQTT topics, tag ids, paths) go through ``clean_for_log`` first:
control characters (newlines, escape sequences) are replaced, so nobody can forge a log line or
colour a terminal, and they are cut to a sane length. docs/operations.md says how to ship the stream.

``SecurityEventMiddleware`` (in settings.MIDDLEWARE) logs every 401/403 answer and remembers the
signed-in user of the request for the audit trail (``current_actor``), so changes made through code
that is not handed the user (a signal on group membership, say) still record who did it.

Sign-in events (auth.login, auth.login_failed, auth.lockout, auth.logout) are written by the receivers in
accounts/signals.py, one event per sign-in, with the door (admin, map, api) and the second factor.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

LOGGER_NAME = "security"
logger = logging.getLogger(LOGGER_NAME)

# C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_FIELD_CHARS = 300

_actor: contextvars.ContextVar = contextvars.ContextVar("audit_actor", default=None)


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean_for_log(value, limit: int = MAX_FIELD_CHARS) -> str:
    """``value`` as a one-line string: control characters are escaped (a newline becomes the four
    characters \\x0a), so nobody can forge a log line or drive a terminal; long text is cut."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = _CONTROL.sub(_escape, str(value))
    return text if len(text) <= limit else text[:limit] + "…"


class ControlCharacterFilter(logging.Filter):
    """On a handler: every message it writes has its control characters escaped (clean_for_log). The
    traceback of a logged exception is formatted separately and keeps its lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CONTROL.search(message):
            record.msg, record.args = clean_for_log(message, 20_000), None
        return True


def _clean(value):
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {clean_for_log(k, 60): _clean(v) for k, v in value.items()}
    return clean_for_log(value)


def security_event(kind: str, *, level: int = logging.WARNING, **fields) -> dict:
    """Write one security event to the ``security`` log stream; returns the event as logged."""
    event = {"kind": clean_for_log(kind, 60), **{k: _clean(v) for k, v in fields.items()}}
    logger.log(level, "%s", json.dumps(event, ensure_ascii=False, sort_keys=True), extra={"security_event": event})
    return event


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, then the event's fields (or "message")."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        event = getattr(record, "security_event", None)
        if event is not None:
            line.update(event)
        else:
            line["message"] = clean_for_log(record.getMessage(), 2000)
        return json.dumps(line, ensure_ascii=False, default=str)


# --------------------------------------------------------------------------- who is acting


class _RequestUser:
    """What the context variable holds while a request is served: the request itself, read when an audit
    asks (so it is the user the view saw, a token's user included), never a lazy object.

    The context variable must hold plain values. asgiref (3.13) walks every context variable whenever work
    moves between the event loop and a worker thread (``isinstance(value, _Storage)`` in
    ``_restore_context``), on the event loop. Storing ``request.user`` itself, a ``SimpleLazyObject`` not yet
    looked up, made that check look the user up there: a database query in the event loop, a
    SynchronousOnlyOperation inside asgiref, and every request with a session cookie hung forever on
    daphne (tests/config/test_asgi_sessions.py)."""

    __slots__ = ("request",)

    def __init__(self, request):
        self.request = request

    @property
    def user(self):
        return getattr(self.request, "user", None)


def current_request():
    """The Django request being served (SecurityEventMiddleware), else None: a management command, the shell,
    a worker. Under DRF its ``auth`` is the request's token (DRF sets it on the Django request too)."""
    holder = _actor.get()
    return holder.request if isinstance(holder, _RequestUser) else None


def current_actor():
    """The signed-in user of the request being served (or the one set by ``acting_as``), else None."""
    user = _actor.get()
    if isinstance(user, _RequestUser):
        user = user.user
    if user is not None and getattr(user, "is_authenticated", False) and getattr(user, "pk", None) is not None:
        return user
    return None


class acting_as:  # noqa: N801 - used as a context manager, like a function
    """``with acting_as(user): ...``: for commands and tests that change things on someone's behalf."""

    def __init__(self, user):
        self.user = user

    def __enter__(self):
        self._token = _actor.set(self.user)
        return self.user

    def __exit__(self, *exc):
        _actor.reset(self._token)


def _who(user) -> str | None:
    """A user's name, a gateway's scope, or None when nobody is signed in."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    get_username = getattr(user, "get_username", None)
    return clean_for_log(get_username() if get_username else str(user), 150)


def client_ip(request) -> str:
    return clean_for_log(request.META.get("REMOTE_ADDR", ""), 64)


class SecurityEventMiddleware:
    """Every 401/403 answer, and every sign-in redirect of an anonymous caller, on the security stream.

    The doors that consult the policy table (config/access.py) also log ``policy.refused`` with the action
    refused; this catches the rest (the admin's own permission checks, DRF's authentication failures), so
    no refusal goes unrecorded. One ``http.*`` event per answer. It also remembers the signed-in user of
    the request for the audit trail (``current_actor``).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _actor.set(_RequestUser(request))  # never request.user itself: see _RequestUser
        try:
            response = self.get_response(request)
        finally:
            _actor.reset(token)
        status = response.status_code
        user = getattr(request, "user", None)
        anonymous = user is None or not getattr(user, "is_authenticated", False)
        sign_in_redirect = status == 302 and anonymous and "login" in (response.get("Location") or "")
        if status in (401, 403) or sign_in_redirect:
            security_event(
                "http.sign_in_required" if sign_in_redirect else "http.refused",
                status=status,
                method=request.method,
                path=request.path,
                user=_who(user),
                user_id=None if anonymous else getattr(user, "pk", None),
                ip=client_ip(request),
            )
        return response
