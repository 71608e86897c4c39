"""What every /api/v1/ endpoint shares: the error format, pagination, throttling and the schema hooks.

One error format everywhere (docs/api.md):

    {"code": "conflict", "message": "cannot reserve IP-00042: ...", "field_errors": {}}

- ``code``: a stable machine word (invalid, not_authenticated, permission_denied, not_found, conflict,
  guard_failed, throttled, ...); lifecycle refusals use their own code (lifecycle/exceptions.py).
- ``message``: one sentence a person can act on.
- ``field_errors``: {"field": ["problem", ...]} for bad input (nested fields as "parent.child"), else {}.
- Refusals that list reasons (guards, sign-offs, no asset available) add ``reasons``: [...].
- ``detail`` repeats ``message``: DRF clients and the RTLS gateways read that key.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, filters, pagination, serializers, throttling
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from lifecycle.exceptions import LifecycleError

logger = logging.getLogger(__name__)


def error_body(*, code: str, message: str, field_errors: dict | None = None, **extra) -> dict:
    return {"code": code, "message": message, "field_errors": field_errors or {}, **extra, "detail": message}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested ValidationError detail as {"field": [...], "parent.child": [...], "items.0.name": [...]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and detail and all(not isinstance(v, dict | list) for v in detail):
        flat[prefix or "non_field_errors"] = [str(v) for v in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                flat.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [str(detail)]
    return flat


def _validation_message(field_errors: dict[str, list[str]]) -> str:
    general = field_errors.pop("non_field_errors", None) or field_errors.pop("detail", None)
    parts = list(general or []) + [f"{name}: {' '.join(problems)}" for name, problems in field_errors.items()]
    return _("invalid input: %(problems)s") % {"problems": "; ".join(parts)} if parts else _("invalid input")


def exception_handler(exc, context):
    # Imported here: rest_framework.views reads the throttle and pagination settings, which name classes of
    # this module, so a module-level import is circular whenever DRF's own system check loads this module first.
    from rest_framework.views import exception_handler as drf_exception_handler  # noqa: PLC0415 — see above

    if isinstance(exc, LifecycleError):
        extra = {"reasons": list(exc.reasons)} if hasattr(exc, "reasons") else {}
        if hasattr(exc, "reason_codes"):
            extra["reason_codes"] = list(exc.reason_codes)  # stable codes; ``reasons`` is their translated text
        return Response(error_body(code=exc.code, message=exc.message, **extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if exc.args and str(exc) else None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) if exc.args and str(exc) else None)
    elif isinstance(exc, IntegrityError):
        # Services check first and lock rows; this is the database's backstop catching a race they lost.
        logger.warning("API: integrity error turned into 409: %s", exc)
        return Response(
            error_body(code="conflict", message=_("the change conflicts with one made at the same moment; reload")),
            status=409,
        )

    response = drf_exception_handler(exc, context)  # sets WWW-Authenticate, Retry-After, Allow
    if response is None:
        return None  # a bug: Django logs it and answers 500
    if isinstance(exc, exceptions.ValidationError):
        field_errors = _flatten(exc.detail)
        message = _validation_message(dict(field_errors))
        field_errors.pop("non_field_errors", None)
        response.data = error_body(code="invalid", message=message, field_errors=field_errors)
        return response
    detail = getattr(exc, "detail", None)
    code = getattr(detail, "code", None) or getattr(exc, "default_code", None) or "error"
    if isinstance(detail, dict | list):
        message = "; ".join(f"{k}: {' '.join(v)}" for k, v in _flatten(detail).items())
    else:
        message = str(detail) if detail is not None else str(exc)
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
    response.data = error_body(code=str(code), message=message)
    return response


class AwareDateTimeField(serializers.DateTimeField):
    """A date and time that must carry its time zone (``Z`` or ``+01:00``). DRF reads one without as the
    server's time zone; a time a person typed in another zone would then be off by hours, silently."""

    default_error_messages = {
        "naive": gettext_lazy("give the time zone too, e.g. 2026-11-22T09:30:00Z or 2026-11-22T10:30:00+01:00"),
    }

    def enforce_timezone(self, value):
        if isinstance(value, datetime) and timezone.is_naive(value):
            self.fail("naive")
        return super().enforce_timezone(value)


class StrictOrderingFilter(filters.OrderingFilter):
    """``?ordering=``: a field the view does not offer is refused with 400 naming it and the fields offered,
    never silently ignored (DRF's OrderingFilter drops it). The views offer no security field (firmware,
    networked, encryption, risk class): ordering by one would read it (docs/security.md)."""

    def remove_invalid_fields(self, queryset, fields, view, request):
        offered = [item[0] for item in self.get_valid_fields(queryset, view, {"request": request})]
        unknown = [term for term in fields if term and term.removeprefix("-") not in offered]
        if unknown:
            raise exceptions.ValidationError(
                {
                    self.ordering_param: [
                        _("cannot order by %(fields)s; order by %(offered)s (a leading - for descending)")
                        % {"fields": ", ".join(repr(t) for t in unknown), "offered": ", ".join(offered)}
                    ]
                }
            )
        return super().remove_invalid_fields(queryset, fields, view, request)


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ClockAtEachCall:
    """DRF's throttles read the clock through ``timer = time.time``, a class attribute taken when
    rest_framework.throttling is first imported: a test that imports it under freezegun leaves the frozen clock's
    function there, which then binds as a method (``fake_time() takes 0 positional arguments``), and the time
    the counters follow depends on which test imported the module first. Reading ``time.time`` at each call
    makes every throttle follow the current clock, whatever the import order."""

    def timer(self) -> float:
        return time.time()


class PerUserRateThrottle(ClockAtEachCall, throttling.UserRateThrottle):
    """API_USER_THROTTLE_RATE per signed-in user (token or session alike), read at each request."""

    def get_rate(self):
        return settings.API_USER_THROTTLE_RATE or None

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None  # AnonymousRateThrottle's
        return super().get_cache_key(request, view)


class AnonymousRateThrottle(ClockAtEachCall, throttling.AnonRateThrottle):
    def get_rate(self):
        return settings.API_ANON_THROTTLE_RATE or None


# --- OpenAPI (drf-spectacular hooks) -----------------------------------------------------------------


def drop_trailing_slash_aliases(endpoints, **kwargs):
    """A view routed both as /x and /x/ (the RTLS ingest accepts both) is documented once, as /x."""
    seen = {(path, method, getattr(callback, "cls", callback)) for path, _, method, callback in endpoints}
    return [
        (path, regex, method, callback)
        for path, regex, method, callback in endpoints
        if not (path.endswith("/") and (path[:-1], method, getattr(callback, "cls", callback)) in seen)
    ]


ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error format of the API (docs/api.md).",
    "properties": {
        "code": {"type": "string", "description": "A stable machine word: invalid, not_found, conflict, ..."},
        "message": {"type": "string", "description": "What is wrong, for a person."},
        "field_errors": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
            "description": "Per input field (nested fields as parent.child); empty when not about input.",
        },
        "reasons": {"type": "array", "items": {"type": "string"}, "description": "Each failing guard or check."},
        "detail": {"type": "string", "description": "Same as message (for DRF clients and gateways)."},
    },
    "required": ["code", "message", "field_errors"],
}
ERROR_DESCRIPTIONS = {
    "400": "Bad input: field_errors says which field and why.",
    "401": "Not signed in: send Authorization: Token <key> (manage.py issue_token).",
    "403": "Your role may not do this.",
    "404": "No such object (or page).",
    "409": "The state does not allow it, a guard refused it, or someone else acted first; message says why.",
    "429": "Too many requests for this user; Retry-After says when to retry.",
}

SESSION_ERROR_DESCRIPTIONS = {
    "401": "The session expired (code session_expired): sign in again.",
    "403": "Not signed in (not_authenticated: this call takes a signed-in session, not a token), no CSRF token, "
    "or your role may not do this.",
}


def add_error_responses(result, generator, request, public):
    """Document the error format on every operation, for each error status it can answer with."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            statuses = ["400", "401", "403", "404", "429"]
            if method != "get":
                statuses.append("409")
            # The floor map's calls take the page's session only (floormap/api.py): no token challenge.
            session_only = operation.get("security") == [{"cookieAuth": []}]
            for status in statuses:
                if status not in responses:
                    description = (SESSION_ERROR_DESCRIPTIONS if session_only else {}).get(status)
                    responses[status] = {
                        "content": {"application/json": {"schema": ref}},
                        "description": description or ERROR_DESCRIPTIONS[status],
                    }
    return result


@csrf_exempt  # nothing to protect, and a POST to a wrong URL should read "not found", not "CSRF failed"
def api_not_found(request, *args, **kwargs):
    """Any /api/v1/ URL no endpoint matches: a 404 in the API's error format, not Django's HTML page."""

    path = request.path
    hint = ""
    if not path.endswith("/"):
        try:
            match = resolve(path + "/")
            if match.func is not api_not_found:
                hint = f"; did you mean {path}/ (with the trailing slash)?"
        except Resolver404:
            pass
    message = f"no API endpoint at {path}{hint}; the endpoints are listed at /api/v1/docs/"
    return JsonResponse(error_body(code="not_found", message=message), status=404)
