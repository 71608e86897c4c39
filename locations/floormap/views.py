"""The floor map's page and its JSON endpoints. Thin: parse, call one selector or service, render.

- ``/map/``: the page (Nurse, Dispatch, Clinical engineering, superusers; others get 403).
- ``/map/api/floors/<id>/``: a floor's rooms and equipment; ``.../assets/?since=``: the polling fallback.
- ``/map/api/search/``: "what do I need, where am I", through lifecycle.nearest.assets_nearest_available.
- ``/map/api/places/``: rooms and units for "where am I".
- ``/map/api/assets/<id>/action/``: start use / return, through lifecycle.services.
- ``/map/api/requests/``: "request delivery", through lifecycle.requests.services.equipment_request_create.

Errors use the project's one format (config/api.py): ``{"code", "message", "field_errors", "detail"}``
with the HTTP status that says what went wrong; never a 500.
"""

from __future__ import annotations

import functools
import json

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils import timezone as tz
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.sessions import LAST_ACTIVITY_KEY, passive, session_deadlines
from assets.models import Asset, AssetType
from assets.selectors import asset_types_matching
from config.access import check, describe, refuse
from declarations.policy import Action
from declarations.states import state_definition
from declarations.transitions import TransitionName
from lifecycle import services as lifecycle_services
from lifecycle.exceptions import LifecycleError
from lifecycle.nearest import assets_nearest_available
from lifecycle.requests.services import equipment_request_create
from locations.floormap import access, payloads, selectors
from locations.models import Floor, Room

# How often a page without a live connection (or with a process-local channel layer) asks for changes.
DEFAULT_POLL_SECONDS = 5
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 50
# Two types whose scores differ less than this are both plausible: the map asks which one was meant.
AMBIGUOUS_MARGIN = 0.05

MAP_SERVICES = {
    TransitionName.START_USE.value: lifecycle_services.asset_start_use,
    TransitionName.RETURN.value: lifecycle_services.asset_return,
}


def _poll_seconds() -> float:
    return float(getattr(settings, "MAP_POLL_SECONDS", DEFAULT_POLL_SECONDS))


def _error(code: str, message: str, status: int, *, field: str | None = None, **extra) -> JsonResponse:
    """The project's one error format (config/api.py): code, message, field_errors; ``detail`` repeats message."""
    field_errors = {field: [message]} if field else {}
    return JsonResponse(
        {"code": code, "message": message, "field_errors": field_errors, **extra, "detail": message}, status=status
    )


def _lifecycle_error(exc: LifecycleError) -> JsonResponse:
    extra = {"reasons": list(exc.reasons)} if hasattr(exc, "reasons") else {}
    return _error(exc.code, exc.message, exc.status_code, **extra)


def map_api(view):
    """JSON endpoints: signed in (else 403 not_signed_in, not a redirect) and a map role (else 403)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            refuse(request.user, Action.MAP_VIEW, door="map", path=request.path)
            return _error("not_signed_in", _("Sign in to use the floor map."), 403)
        if not check(request.user, Action.MAP_VIEW, door="map", path=request.path):
            return _error(
                "permission_denied", _("The floor map is for %(who)s.") % {"who": describe(Action.MAP_VIEW)}, 403
            )
        return view(request, *args, **kwargs)

    return wrapper


def _json_body(request) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


class BadInput(Exception):
    """Bad input from the page: a 400 naming the problem (and the field, when there is one)."""

    def __init__(self, message: str, field: str | None = None):
        self.field = field
        super().__init__(message)


# The largest primary key a database holds (64-bit): a bigger number is no id of ours, not a crash.
MAX_ID = 2**63 - 1


def _int_param(value, name: str, *, low: int = 1, high: int = MAX_ID) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a whole number, got {value!r}", name) from None
    if number < low or number > high:
        raise BadInput(f"{name} must be between {low} and {high}, got {number}", name)
    return number


def bad_input_as_400(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except BadInput as exc:
            return _error("invalid", str(exc), 400, field=exc.field)

    return wrapper


# --- Sign-in and the page ----------------------------------------------------------------------------


class MapLoginView(auth_views.LoginView):
    """Nurses are not staff, so they cannot use the admin's login: the map has its own."""

    template_name = "map/login.html"
    redirect_authenticated_user = True
    next_page = reverse_lazy("floormap:map")


class MapLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("floormap:login")


@login_required(login_url=reverse_lazy("floormap:login"))
@require_GET
def map_page(request):
    if not check(request.user, Action.MAP_VIEW, door="map", path=request.path):
        return render(request, "map/forbidden.html", status=403)
    config = payloads.map_config(
        user=request.user,
        floors=selectors.floors_for_map(),
        actions_by_state=access.map_actions_by_state(request.user),
        can_request=access.user_may_request_delivery(request.user),
        poll_seconds=_poll_seconds(),
    )
    config["csrf_token"] = get_token(request)
    config["session"] = _session_payload(request)
    return render(request, "map/map.html", {"config": config})


def _session_payload(request) -> dict:
    """When this session signs out unless someone does something (accounts/sessions.py); the page warns."""
    return {
        "url": reverse("floormap:session"),
        "login_url": reverse("floormap:login"),
        "expires_in": int(getattr(request, "_session_expires_in", settings.SESSION_IDLE_SECONDS)),
        "idle_s": settings.SESSION_IDLE_SECONDS,
        "warn_s": settings.SESSION_WARN_SECONDS,
    }


@passive  # asking is not activity; "Stay signed in" (POST) is
@map_api
def session_status(request):
    """GET: seconds until this session signs out. POST ("Stay signed in"): counts as activity."""
    if request.method not in ("GET", "POST"):
        return _error("method_not_allowed", "use GET or POST", 405)
    if request.method == "POST":
        now = tz.now().timestamp()
        request.session[LAST_ACTIVITY_KEY] = now
        request._session_expires_in = min(session_deadlines(request.session, now)) - now
    return JsonResponse(_session_payload(request))


# --- A floor, and what changed on it -----------------------------------------------------------------


def _floor_or_404(floor_id: int) -> Floor | JsonResponse:
    floor = None
    if floor_id <= MAX_ID:
        floor = Floor.objects.select_related("building__site").filter(pk=floor_id).first()
    if floor is None:
        return _error("not_found", f"there is no floor {floor_id}", 404)
    return floor


def _bounds(rooms: list[Room]) -> list[list[float]] | None:
    xs, ys = [], []
    for room in rooms:
        for ring in room.polygon.get("coordinates", []):
            for x, y, *_rest in ring:
                xs.append(x)
                ys.append(y)
    if not xs:
        return None
    return [[min(xs), min(ys)], [max(xs), max(ys)]]


@require_GET
@map_api
def floor_data(request, floor_id: int):
    """The floor's rooms and all its equipment: what the map draws when it opens a floor."""
    floor = _floor_or_404(floor_id)
    if isinstance(floor, JsonResponse):
        return floor
    now = timezone.now()
    rooms = list(selectors.floor_rooms(floor=floor))
    assets = selectors.floor_map_assets(floor=floor, now=now)
    return JsonResponse(
        {
            "floor": payloads.floor_option(floor),
            "bounds": _bounds(rooms),
            "rooms": [payloads.room_payload(room) for room in rooms],
            "assets": [payloads.asset_payload(asset) for asset in assets],
            "server_time": now.isoformat(),
        }
    )


@passive  # the polling fallback is not a person's activity: a map left open still signs out
@require_GET
@map_api
@bad_input_as_400
def floor_assets(request, floor_id: int):
    """The polling fallback: the floor's equipment changed since ``since`` (ISO 8601, the ``server_time``
    of the previous answer), or all of it without ``since``; ``ids`` lists everything on the floor now,
    so the client drops what moved away."""
    floor = _floor_or_404(floor_id)
    if isinstance(floor, JsonResponse):
        return floor
    since = None
    raw = request.GET.get("since", "").strip()
    if raw:
        try:
            since = parse_datetime(raw.replace(" ", "+"))  # a "+" in a query string arrives as a space
        except ValueError:  # well formed but impossible, e.g. month 13
            since = None
        if since is None or since.tzinfo is None:
            raise BadInput(
                f"since must be an ISO 8601 time with a time zone, e.g. 2026-11-22T08:00:00Z; got {raw!r}", "since"
            )
    now = timezone.now()
    assets = selectors.floor_map_assets(floor=floor, since=since, now=now)
    return JsonResponse(
        {
            "floor_id": floor.pk,
            "full": since is None,
            "assets": [payloads.asset_payload(asset) for asset in assets],
            "ids": selectors.floor_map_asset_ids(floor=floor),
            "server_time": now.isoformat(),
        }
    )


# --- Search: what do I need, where am I --------------------------------------------------------------


def _origin_room(request) -> tuple[Room, dict]:
    room_param = request.GET.get("room", "").strip()
    unit = request.GET.get("unit", "").strip()
    if room_param:
        room_id = _int_param(room_param, "room")
        room = Room.objects.select_related("floor__building").filter(pk=room_id).first()
        if room is None:
            raise BadInput(f"there is no room {room_id}", "room")
        return room, payloads.place_room_payload(room)
    if unit:
        room = selectors.unit_reference_room(unit=unit)
        if room is None:
            raise BadInput(f"no room belongs to the unit {unit!r}", "unit")
        return room, {**payloads.place_unit_payload(unit), "measured_from": payloads.place_room_payload(room)}
    raise BadInput("say where you are: a room (room=ID) or a unit (unit=NAME)")


@require_GET
@map_api
@bad_input_as_400
def search(request):
    """Nearest available equipment of a type: ``q`` (what was typed) or ``type`` (an asset type id), and
    ``room`` (id) or ``unit``. Located results come first by distance, stale ones after, marked."""
    limit = _int_param(request.GET.get("limit", SEARCH_DEFAULT_LIMIT), "limit", high=SEARCH_MAX_LIMIT)
    type_param = request.GET.get("type", "").strip()
    query = request.GET.get("q", "").strip()
    origin, origin_payload = _origin_room(request)
    alternatives: list[AssetType] = []
    if type_param:
        type_id = _int_param(type_param, "type")
        asset_type = AssetType.objects.filter(pk=type_id).first()
        if asset_type is None:
            raise BadInput(f"there is no asset type {type_id}", "type")
    elif query:
        matches = asset_types_matching(query=query)
        if not matches:
            known = ", ".join(AssetType.objects.order_by("name").values_list("name", flat=True))
            return JsonResponse(
                {
                    "query": query,
                    "type": None,
                    "types": [],
                    "results": [],
                    "origin": origin_payload,
                    "message": _("No equipment type matches “%(query)s”. Known types: %(known)s.")
                    % {"query": query, "known": known or _("none yet")},
                }
            )
        best, others = matches[0], matches[1:]
        tied = [t for t in others if best.match_score - t.match_score < AMBIGUOUS_MARGIN]
        if tied:
            return JsonResponse(
                {
                    "query": query,
                    "type": None,
                    "types": [payloads.asset_type_payload(t) for t in [best, *tied]],
                    "results": [],
                    "origin": origin_payload,
                    "message": _("“%(query)s” could be several types of equipment: which one?") % {"query": query},
                }
            )
        asset_type, alternatives = best, others
    else:
        raise BadInput("say what you need: q=TEXT (e.g. infusion pump) or type=ID")
    results = assets_nearest_available(asset_type=asset_type, room=origin, limit=limit)
    return JsonResponse(
        {
            "query": query,
            "type": payloads.asset_type_payload(asset_type),
            "types": [payloads.asset_type_payload(t) for t in alternatives],
            "origin": origin_payload,
            "results": [payloads.search_result_payload(r) for r in results],
            "message": ""
            if results
            else _("No available %(type)s was found on this site.") % {"type": asset_type.name.lower()},
        }
    )


@require_GET
@map_api
@bad_input_as_400
def places(request):
    """Rooms and units matching what was typed, for "where am I"."""
    query = request.GET.get("q", "")
    limit = _int_param(request.GET.get("limit", 20), "limit", high=100)
    units = [payloads.place_unit_payload(u) for u in selectors.units_matching(query=query)]
    rooms = [payloads.place_room_payload(r) for r in selectors.rooms_matching(query=query, limit=limit)]
    return JsonResponse({"places": units + rooms})


# --- Actions from a popup ----------------------------------------------------------------------------


@require_POST
@map_api
@bad_input_as_400
def asset_action(request, asset_id: int):
    """Body ``{"action": "start_use" | "return", "expected_state": "..."}``: runs the transition through
    lifecycle.services (roles, guards, log, live update). ``expected_state`` is the state the map showed:
    if someone changed it meanwhile, 409 and nothing is done."""
    body = _json_body(request)
    action = body.get("action")
    if action not in MAP_SERVICES:
        raise BadInput(f"action must be one of {', '.join(MAP_SERVICES)}; got {action!r}", "action")
    asset = None
    if asset_id <= MAX_ID:
        asset = Asset.objects.select_related("asset_type", "current_room").filter(pk=asset_id).first()
    if asset is None:
        return _error("not_found", f"there is no asset {asset_id}", 404)
    expected = body.get("expected_state")
    if expected is not None and str(expected) != str(asset.state):
        return _error(
            "conflict",
            _(
                "%(asset)s is now %(state)s, not %(expected)s: someone changed it since your map "
                "showed it; nothing was done"
            )
            % {"asset": asset, "state": state_definition(asset.state).label.lower(), "expected": expected},
            409,
        )
    try:
        MAP_SERVICES[action](asset=asset, user=request.user, note="from the floor map")
    except LifecycleError as exc:
        return _lifecycle_error(exc)
    fresh = selectors.map_asset(asset_id=asset.pk)
    label = state_definition(asset.state).label
    return JsonResponse(
        {
            "asset": payloads.asset_payload(fresh),
            "message": _("%(tag)s is now %(state)s.") % {"tag": asset.asset_tag, "state": label},
        }
    )


@require_POST
@map_api
@bad_input_as_400
def request_delivery(request):
    """Body ``{"asset_type": ID, "room": ID | "unit": NAME, "asset": ID (optional), "priority", "note"}``:
    an equipment request for dispatch (lifecycle.requests.services)."""
    body = _json_body(request)  # the role is checked by the service, as for the API
    asset_type = AssetType.objects.filter(pk=_int_param(body.get("asset_type"), "asset_type")).first()
    if asset_type is None:
        raise BadInput(f"there is no asset type {body.get('asset_type')!r}", "asset_type")
    if body.get("room") not in (None, ""):
        destination = Room.objects.filter(pk=_int_param(body["room"], "room")).first()
        if destination is None:
            raise BadInput(f"there is no room {body['room']!r}", "room")
    elif body.get("unit"):
        destination = selectors.unit_reference_room(unit=str(body["unit"]))
        if destination is None:
            raise BadInput(f"no room belongs to the unit {body['unit']!r}", "unit")
    else:
        raise BadInput("say where it should go: room (id) or unit (name)", "room")
    note = str(body.get("note") or "").strip()
    if body.get("asset") not in (None, ""):
        preferred = Asset.objects.filter(pk=_int_param(body["asset"], "asset")).first()
        if preferred is not None:
            where = f" in {preferred.current_room.code}" if preferred.current_room_id else ""
            note = f"Seen on the floor map: {preferred.asset_tag}{where}. {note}".strip()
    kwargs = {"asset_type": asset_type, "destination_room": destination, "user": request.user, "note": note}
    if body.get("priority"):
        kwargs["priority"] = str(body["priority"])
    try:
        equipment_request = equipment_request_create(**kwargs)
    except LifecycleError as exc:
        return _lifecycle_error(exc)
    return JsonResponse(
        {
            "request": {
                "id": equipment_request.pk,
                "asset_type": asset_type.name,
                "destination": {"id": destination.pk, "code": destination.code, "name": destination.name},
                "priority": str(equipment_request.priority),
                "status": str(equipment_request.status),
            },
            "message": _("Request #%(id)s sent to dispatch: %(type)s to %(room)s.")
            % {"id": equipment_request.pk, "type": asset_type.name, "room": destination.code},
        },
        status=201,
    )
