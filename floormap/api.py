"""The floor map's JSON calls, under /api/v1/map/ (DRF, in the OpenAPI schema). Thin: validate, call one
selector or service, answer with the dicts of payloads.py.

- ``floors/<id>/``: a floor's rooms and equipment; ``floors/<id>/assets/?since=``: the polling fallback;
- ``search/``: "what do I need, where am I", through assets.selectors.assets_nearest_available;
- ``places/``: rooms and units for "where am I";
- ``assets/<id>/action/``: start use / return, through lifecycle.services;
- ``requests/``: "request delivery", through lifecycle.requests.services.equipment_request_create;
- ``session/``: how long this session has left (GET), "Stay signed in" (POST).

The map is a page for people at a shared ward computer: these calls take the page's signed-in session
(SessionAuthentication, so every POST needs the CSRF token the page carries), never an API token, and only
for the roles the policy table lets use the map (``Action.MAP_VIEW``, door "map"). Errors are the API's one
format (config/api.py).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.sessions import LAST_ACTIVITY_KEY, session_deadlines
from assets.models import Asset, AssetType
from assets.selectors import asset_types_matching
from config.access import check, describe, refuse
from declarations.policy import Action
from declarations.states import state_definition
from declarations.transitions import TransitionName
from floormap import payloads, selectors
from floormap import serializers as s
from lifecycle import services as lifecycle_services
from lifecycle.nearest import assets_nearest_available
from lifecycle.requests.services import equipment_request_create
from locations.models import Floor, Room

# Two types whose scores differ less than this are both plausible: the map asks which one was meant.
AMBIGUOUS_MARGIN = 0.05

MAP_SERVICES = {
    TransitionName.START_USE.value: lifecycle_services.asset_start_use,
    TransitionName.RETURN.value: lifecycle_services.asset_return,
}


class MayUseMap(permissions.BasePermission):
    """Signed in (a session) and a role that may use the map; a refusal is a security event (door "map")."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            refuse(user, Action.MAP_VIEW, door="map", path=request.path)
            # 403, not 401: a session has no WWW-Authenticate challenge (the page sends the user to sign in).
            raise exceptions.NotAuthenticated(
                _("Sign in to use the floor map: it takes the signed-in session of /map/, not an API token.")
            )
        if check(user, Action.MAP_VIEW, door="map", path=request.path):
            return True
        self.message = _("The floor map is for %(who)s.") % {"who": describe(Action.MAP_VIEW)}
        return False


class MapAPIView(APIView):
    authentication_classes = [SessionAuthentication]  # enforces CSRF on every unsafe method
    permission_classes = [MayUseMap]
    parser_classes = [JSONParser]  # the page sends JSON


def _floor_or_404(floor_id: int) -> Floor:
    floor = None
    if floor_id <= s.MAX_ID:
        floor = Floor.objects.select_related("building__site").filter(pk=floor_id).first()
    if floor is None:
        raise exceptions.NotFound(_("there is no floor %(id)s") % {"id": floor_id})
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


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- A floor, and what changed on it -----------------------------------------------------------------


class FloorView(MapAPIView):
    @extend_schema(operation_id="map_floor", tags=["map"], responses=s.MapFloorDataSerializer)
    def get(self, request, floor_id: int):
        """The floor's rooms and all its equipment: what the map draws when it opens a floor."""
        floor = _floor_or_404(floor_id)
        now = timezone.now()
        rooms = list(selectors.floor_rooms(floor=floor))
        assets = selectors.floor_map_assets(floor=floor, now=now)
        return Response(
            {
                "floor": payloads.floor_option(floor),
                "bounds": _bounds(rooms),
                "rooms": [payloads.room_payload(room) for room in rooms],
                "assets": [payloads.asset_payload(asset) for asset in assets],
                "server_time": now.isoformat(),
            }
        )


class FloorAssetsView(MapAPIView):
    @extend_schema(
        operation_id="map_floor_assets",
        tags=["map"],
        parameters=[s.FloorChangesQuery],
        responses=s.MapFloorChangesSerializer,
    )
    def get(self, request, floor_id: int):
        """The polling fallback: the floor's equipment changed since ``since`` (the ``server_time`` of the
        previous answer), or all of it without ``since``; ``ids`` lists everything on the floor now, so the
        client drops what moved away. Polling is not a person's activity: a map left open still signs out."""
        floor = _floor_or_404(floor_id)
        since = _valid(s.FloorChangesQuery, request.query_params).get("since")
        now = timezone.now()
        assets = selectors.floor_map_assets(floor=floor, since=since, now=now)
        return Response(
            {
                "floor_id": floor.pk,
                "full": since is None,
                "assets": [payloads.asset_payload(asset) for asset in assets],
                "ids": selectors.floor_map_asset_ids(floor=floor),
                "server_time": now.isoformat(),
            }
        )


# --- Search: what do I need, where am I --------------------------------------------------------------


class SearchView(MapAPIView):
    @extend_schema(operation_id="map_search", tags=["map"], parameters=[s.SearchQuery], responses=s.MapSearchSerializer)
    def get(self, request):
        """Nearest available equipment of a type: ``q`` (what was typed) or ``type`` (an asset type id), and
        ``room`` (id) or ``unit``. Located results come first by distance, stale ones after, marked."""
        query = _valid(s.SearchQuery, request.query_params)
        origin, unit, text = query["origin_room"], query["origin_unit"], query["q"]
        origin_payload = (
            {**payloads.place_unit_payload(unit), "measured_from": payloads.place_room_payload(origin)}
            if unit
            else payloads.place_room_payload(origin)
        )
        answer = {"query": text, "type": None, "types": [], "results": [], "origin": origin_payload}
        alternatives: list[AssetType] = []
        asset_type = query.get("asset_type")
        if asset_type is None:
            matches = asset_types_matching(query=text)
            if not matches:
                known = ", ".join(AssetType.objects.order_by("name").values_list("name", flat=True))
                message = _("No equipment type matches “%(query)s”. Known types: %(known)s.") % {
                    "query": text,
                    "known": known or _("none yet"),
                }
                return Response({**answer, "message": message})
            best, others = matches[0], matches[1:]
            tied = [t for t in others if best.match_score - t.match_score < AMBIGUOUS_MARGIN]
            if tied:
                types = [payloads.asset_type_payload(t) for t in [best, *tied]]
                message = _("“%(query)s” could be several types of equipment: which one?") % {"query": text}
                return Response({**answer, "types": types, "message": message})
            asset_type, alternatives = best, others
        results = assets_nearest_available(asset_type=asset_type, room=origin, limit=query["limit"])
        return Response(
            {
                **answer,
                "type": payloads.asset_type_payload(asset_type),
                "types": [payloads.asset_type_payload(t) for t in alternatives],
                "results": [payloads.search_result_payload(r) for r in results],
                "message": ""
                if results
                else _("No available %(type)s was found on this site.") % {"type": asset_type.name.lower()},
            }
        )


class PlacesView(MapAPIView):
    @extend_schema(operation_id="map_places", tags=["map"], parameters=[s.PlacesQuery], responses=s.MapPlacesSerializer)
    def get(self, request):
        """Rooms and units matching what was typed, for "where am I"."""
        query = _valid(s.PlacesQuery, request.query_params)
        units = [payloads.place_unit_payload(u) for u in selectors.units_matching(query=query["q"])]
        rooms = selectors.rooms_matching(query=query["q"], limit=query["limit"])
        return Response({"places": units + [payloads.place_room_payload(r) for r in rooms]})


# --- Actions from a popup ----------------------------------------------------------------------------


class AssetActionView(MapAPIView):
    @extend_schema(
        operation_id="map_asset_action",
        tags=["map"],
        request=s.AssetActionInput,
        responses=s.MapActionResultSerializer,
    )
    def post(self, request, asset_id: int):
        """Start use or return, through lifecycle.services (roles, guards, log, live update).
        ``expected_state`` is the state the map showed: if someone changed it meanwhile, 409 and nothing
        is done."""
        body = _valid(s.AssetActionInput, request.data)
        asset = None
        if asset_id <= s.MAX_ID:
            asset = Asset.objects.select_related("asset_type", "current_room").filter(pk=asset_id).first()
        if asset is None:
            raise exceptions.NotFound(_("there is no asset %(id)s") % {"id": asset_id})
        expected = body.get("expected_state")
        if expected not in (None, "") and str(expected) != str(asset.state):
            raise Conflict(
                _(
                    "%(asset)s is now %(state)s, not %(expected)s: someone changed it since your map "
                    "showed it; nothing was done"
                )
                % {"asset": asset, "state": state_definition(asset.state).label.lower(), "expected": expected}
            )
        MAP_SERVICES[body["action"]](asset=asset, user=request.user, note="from the floor map")
        fresh = selectors.map_asset(asset_id=asset.pk)
        label = state_definition(fresh.state).label
        message = _("%(tag)s is now %(state)s.") % {"tag": asset.asset_tag, "state": label}
        return Response({"asset": payloads.asset_payload(fresh), "message": message})


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class RequestDeliveryView(MapAPIView):
    @extend_schema(
        operation_id="map_request_delivery",
        tags=["map"],
        request=s.RequestDeliveryInput,
        responses={201: s.MapRequestCreatedSerializer},
    )
    def post(self, request):
        """An equipment request for dispatch (lifecycle.requests.services, which checks the role as for the
        API): to a room, or to a unit's nurse station; the asset seen on the map is named in the note."""
        body = _valid(s.RequestDeliveryInput, request.data)
        asset_type, destination, preferred = body["asset_type"], body["destination"], body["preferred"]
        note = str(body.get("note") or "").strip()
        if preferred is not None:
            where = f" in {preferred.current_room.code}" if preferred.current_room_id else ""
            note = f"Seen on the floor map: {preferred.asset_tag}{where}. {note}".strip()
        kwargs = {"asset_type": asset_type, "destination_room": destination, "user": request.user, "note": note}
        if body.get("priority"):
            kwargs["priority"] = body["priority"]
        equipment_request = equipment_request_create(**kwargs)
        message = _("Request #%(id)s sent to dispatch: %(type)s to %(room)s.") % {
            "id": equipment_request.pk,
            "type": asset_type.name,
            "room": destination.code,
        }
        return Response(
            {
                "request": {
                    "id": equipment_request.pk,
                    "asset_type": asset_type.name,
                    "destination": {"id": destination.pk, "code": destination.code, "name": destination.name},
                    "priority": str(equipment_request.priority),
                    "status": str(equipment_request.status),
                },
                "message": message,
            },
            status=status.HTTP_201_CREATED,
        )


# --- The session -------------------------------------------------------------------------------------


def session_payload(request) -> dict:
    """When this session signs out unless someone does something (accounts/sessions.py); the page warns."""
    django_request = getattr(request, "_request", request)
    return {
        "url": reverse("map-session"),
        "login_url": reverse("floormap:login"),
        "expires_in": int(getattr(django_request, "_session_expires_in", settings.SESSION_IDLE_SECONDS)),
        "idle_s": settings.SESSION_IDLE_SECONDS,
        "warn_s": settings.SESSION_WARN_SECONDS,
    }


class SessionView(MapAPIView):
    @extend_schema(operation_id="map_session", tags=["map"], responses=s.MapSessionSerializer)
    def get(self, request):
        """Seconds until this session signs out. Asking is not activity."""
        return Response(session_payload(request))

    @extend_schema(operation_id="map_session_stay", tags=["map"], request=None, responses=s.MapSessionSerializer)
    def post(self, request):
        """ "Stay signed in": counts as activity."""
        now = timezone.now().timestamp()
        django_request = request._request
        django_request.session[LAST_ACTIVITY_KEY] = now
        django_request._session_expires_in = min(session_deadlines(django_request.session, now)) - now
        return Response(session_payload(request))
