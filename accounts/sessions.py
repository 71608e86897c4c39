"""Idle timeout and maximum session age (settings SESSION_IDLE_SECONDS, SESSION_MAX_AGE_SECONDS).

Every request of a signed-in session is checked: idle for longer than SESSION_IDLE_SECONDS, or signed in
longer than SESSION_MAX_AGE_SECONDS ago, and the session is signed out before the view runs. Only what a
person does counts as activity: views marked ``@passive`` (the map's polling, the session status) and
WebSocket messages do not move the idle clock, so a map left open on a shared workstation still signs out.

Every response to a signed-in session carries ``X-Session-Expires-In`` (seconds), which the map uses to warn.
"""

from __future__ import annotations

from importlib import import_module
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils import timezone

from config.security_events import security_event

LAST_ACTIVITY_KEY = "session_last_activity"
SIGNED_IN_AT_KEY = "session_signed_in_at"
HEADER = "X-Session-Expires-In"
ACTIVITY_GRANULARITY = 30


def passive(view):
    """Mark a view whose requests are not a person's activity (polling, status)."""
    view.session_passive = True
    return view


def session_deadlines(session, now: float) -> tuple[float, float]:
    """(idle deadline, absolute deadline) as timestamps."""
    last = float(session.get(LAST_ACTIVITY_KEY, now))
    started = float(session.get(SIGNED_IN_AT_KEY, now))
    return last + settings.SESSION_IDLE_SECONDS, started + settings.SESSION_MAX_AGE_SECONDS


def session_end_reason(session_key: str) -> str | None:
    """None while a stored session is still signed in and within its idle and maximum age; else why not:
    "idle", "max_age", or "signout" (no longer signed in). Read-only: this is how a WebSocket checks its
    session without counting as activity."""

    store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=session_key)
    data = store.load()
    if "_auth_user_id" not in data:
        return "signout"
    now = timezone.now().timestamp()
    idle_deadline, max_deadline = session_deadlines(data, now)
    if now >= idle_deadline:
        return "idle"
    if now >= max_deadline:
        return "max_age"
    return None


def start_session_clock(request) -> None:
    now = timezone.now().timestamp()
    request.session[SIGNED_IN_AT_KEY] = now
    request.session[LAST_ACTIVITY_KEY] = now


def _expects_json(request) -> bool:
    return (
        "/api/" in request.path
        or request.headers.get("Accept", "").startswith("application/json")
        or request.headers.get("X-Requested-With") == "fetch"
    )


class SessionTimeoutMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        remaining = getattr(request, "_session_expires_in", None)
        if remaining is not None and request.user.is_authenticated:
            response[HEADER] = str(max(0, int(remaining)))
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        session = getattr(request, "session", None)
        if session is None or not request.user.is_authenticated:
            return None  # anonymous, or an API token (DRF authenticates those inside the view)
        if SIGNED_IN_AT_KEY not in session:
            start_session_clock(request)  # a session from before this feature
        now = timezone.now().timestamp()
        idle_deadline, max_deadline = session_deadlines(session, now)
        if now >= idle_deadline or now >= max_deadline:
            reason = "idle" if now >= idle_deadline else "max_age"
            security_event("session.expired", username=request.user.get_username(), reason=reason, path=request.path)
            request.session_end_reason = reason  # the signed-out signal tells the user's live pages why
            logout(request)
            message = (
                f"You were signed out after {settings.SESSION_IDLE_SECONDS // 60} minutes without activity."
                if reason == "idle"
                else f"You were signed out: a session lasts at most {settings.SESSION_MAX_AGE_SECONDS // 3600} hours."
            )
            if _expects_json(request):
                body = {"code": "session_expired", "message": message, "field_errors": {}, "detail": message}
                return JsonResponse(body, status=401)
            login_url = "/map/login/" if request.path.startswith("/map/") else settings.LOGIN_URL
            return redirect(f"{login_url}?{urlencode({'expired': reason, 'next': request.path})}")
        # Activity is written at most every ACTIVITY_GRANULARITY seconds: not a session write per request.
        if not getattr(view_func, "session_passive", False) and now - float(session.get(LAST_ACTIVITY_KEY, 0)) >= (
            ACTIVITY_GRANULARITY
        ):
            session[LAST_ACTIVITY_KEY] = now
        request._session_expires_in = min(session_deadlines(session, now)) - now
        return None
