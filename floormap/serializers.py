"""The floor map's JSON under /api/v1/map/: what each call takes (validated here) and what it answers.

Input serializers check and resolve what the page sends; a problem is a 400 in the API's one error format
(config/api.py) naming the field. Response serializers describe the dicts ``floormap/payloads.py`` builds
(the same dicts the WebSocket pushes) for the OpenAPI schema; schemathesis checks every answer against them
(tests/api/test_schemathesis.py). A floor's answer carries hundreds of assets: they are built as plain dicts,
not rendered field by field through a serializer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from rest_framework import serializers

from assets.models import Asset, AssetType
from declarations.transitions import TransitionName
from floormap import selectors
from lifecycle.requests.choices import RequestPriority
from locations.models import Room

# The largest primary key a database holds (64-bit): a bigger number is no id of ours, not a crash.
MAX_ID = 2**63 - 1
SEARCH_DEFAULT_LIMIT = 10
SEARCH_MAX_LIMIT = 50
PLACES_DEFAULT_LIMIT = 20
PLACES_MAX_LIMIT = 100
# The transitions a popup offers (floormap/access.py offers them per role and state).
MAP_ACTIONS = (TransitionName.START_USE.value, TransitionName.RETURN.value)


class WholeNumber(serializers.IntegerField):
    """An integer whose errors name the field and what was sent ("room must be a whole number, got 'abc'")."""

    def to_internal_value(self, data):
        try:
            number = int(str(data).strip())
        except (TypeError, ValueError):
            raise serializers.ValidationError(
                _("%(field)s must be a whole number, got %(input)s") % {"field": self.field_name, "input": repr(data)}
            ) from None
        low, high = self.min_value, self.max_value
        if (low is not None and number < low) or (high is not None and number > high):
            raise serializers.ValidationError(
                _("%(field)s must be between %(low)s and %(high)s, got %(number)s")
                % {"field": self.field_name, "low": low, "high": high, "number": number}
            )
        return number


class NamedChoice(serializers.ChoiceField):
    """A choice whose refusals list the choices, in the reader's language (``invalid``, ``missing``: messages
    marked with gettext_noop, with %(choices)s and %(input)s, translated when they are raised)."""

    def __init__(self, *, invalid: str, missing: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.invalid_message, self.missing_message = invalid, missing

    def fail(self, key, **kwargs):
        message = {"invalid_choice": self.invalid_message}.get(key)
        if key in ("required", "null") and self.missing_message:
            message = self.missing_message
        if message is None:
            return super().fail(key, **kwargs)
        choices = ", ".join(str(choice) for choice in self.choices)
        raise serializers.ValidationError(
            _(message) % {"choices": choices, "input": repr(kwargs.get("input"))}, code=key
        )


def _id(**kwargs) -> serializers.IntegerField:
    return WholeNumber(min_value=1, max_value=MAX_ID, **kwargs)


# --- What the page sends ---------------------------------------------------------------------------------


class FloorChangesQuery(serializers.Serializer):
    since = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The server_time of the previous answer (ISO 8601 with a time zone); absent: everything.",
    )

    def validate_since(self, raw: str):
        raw = raw.strip()
        if not raw:
            return None
        try:
            since = parse_datetime(raw.replace(" ", "+"))  # a "+" in a query string arrives as a space
        except ValueError:  # well formed but impossible, e.g. month 13
            since = None
        if since is None or since.tzinfo is None:
            raise serializers.ValidationError(
                _("since must be an ISO 8601 time with a time zone, e.g. 2026-11-22T08:00:00Z; got %(input)s")
                % {"input": repr(raw)}
            )
        # A since at the edge of what Python holds (0001-01-01T00:00:00+14:00, 9999-12-31T23:59:59-12:00)
        # is clamped, not refused: "since the beginning of time" asks for everything, "since the end of time"
        # for nothing, which is what the client meant. Earliest leaves room for the poll's overlap.
        earliest = datetime.min.replace(tzinfo=UTC) + timedelta(seconds=selectors.MAP_POLL_OVERLAP_SECONDS)
        try:
            since = since.astimezone(UTC)
        except OverflowError:
            return earliest if since.year == 1 else datetime.max.replace(tzinfo=UTC)
        return max(since, earliest)


class _Origin(serializers.Serializer):
    """Where I am: a room (id) or a care unit (name); resolved to the room distances are measured from."""

    room = _id(required=False, help_text="Where I am: a room id.")
    unit = serializers.CharField(required=False, allow_blank=True, help_text="Or a care unit, e.g. 4 North.")

    def origin(self, attrs: dict) -> tuple[Room, str | None]:
        if attrs.get("room") is not None:
            room = Room.objects.select_related("floor__building").filter(pk=attrs["room"]).first()
            if room is None:
                raise serializers.ValidationError({"room": [_("there is no room %(id)s") % {"id": attrs["room"]}]})
            return room, None
        unit = (attrs.get("unit") or "").strip()
        if unit:
            room = selectors.unit_reference_room(unit=unit)
            if room is None:
                raise serializers.ValidationError(
                    {"unit": [_("no room belongs to the unit %(unit)s") % {"unit": repr(unit)}]}
                )
            return room, unit
        return None, None


class SearchQuery(_Origin):
    q = serializers.CharField(required=False, allow_blank=True, help_text="What was typed, e.g. infusion pump.")
    type = _id(required=False, help_text="Or an asset type id.")
    limit = WholeNumber(min_value=1, max_value=SEARCH_MAX_LIMIT, default=SEARCH_DEFAULT_LIMIT)

    def validate(self, attrs):
        room, unit = self.origin(attrs)
        if room is None:
            raise serializers.ValidationError(_("say where you are: a room (room=ID) or a unit (unit=NAME)"))
        attrs["origin_room"], attrs["origin_unit"] = room, unit
        attrs["q"] = (attrs.get("q") or "").strip()
        if attrs.get("type") is not None:
            asset_type = AssetType.objects.filter(pk=attrs["type"]).first()
            if asset_type is None:
                raise serializers.ValidationError(
                    {"type": [_("there is no asset type %(id)s") % {"id": attrs["type"]}]}
                )
            attrs["asset_type"] = asset_type
        elif not attrs["q"]:
            raise serializers.ValidationError(_("say what you need: q=TEXT (e.g. infusion pump) or type=ID"))
        return attrs


class PlacesQuery(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, default="", help_text="A room code, name or unit.")
    limit = WholeNumber(min_value=1, max_value=PLACES_MAX_LIMIT, default=PLACES_DEFAULT_LIMIT)


class AssetActionInput(serializers.Serializer):
    action = NamedChoice(
        choices=MAP_ACTIONS,
        invalid=gettext_noop("action must be one of %(choices)s; got %(input)s"),
        missing=gettext_noop("action must be one of %(choices)s"),
    )
    expected_state = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="The state the map showed: if it changed meanwhile, 409 and nothing is done.",
    )


class RequestDeliveryInput(_Origin):
    asset_type = _id(help_text="The asset type id.")
    room = _id(required=False, allow_null=True, help_text="Where it should go: a room id.")
    asset = _id(required=False, allow_null=True, help_text="The asset seen on the map (named in the note).")
    priority = NamedChoice(
        choices=RequestPriority.choices,
        required=False,
        allow_blank=True,
        invalid=gettext_noop("unknown priority %(input)s; one of %(choices)s"),
    )
    note = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=2000)

    def validate_asset_type(self, value: int) -> AssetType:
        asset_type = AssetType.objects.filter(pk=value).first()
        if asset_type is None:
            raise serializers.ValidationError(_("there is no asset type %(id)s") % {"id": value})
        return asset_type

    def validate(self, attrs):
        room, _unit = self.origin(attrs)
        if room is None:
            raise serializers.ValidationError({"room": [_("say where it should go: room (id) or unit (name)")]})
        attrs["destination"] = room
        attrs["preferred"] = Asset.objects.select_related("current_room").filter(pk=attrs.get("asset") or 0).first()
        return attrs


# --- What the server answers (payloads.py builds these dicts) --------------------------------------------


class MapFloorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    level = serializers.IntegerField()
    building = serializers.CharField()
    building_id = serializers.IntegerField()
    site = serializers.CharField()


class MapRoomSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    type = serializers.CharField(help_text="The room type (locations/choices.py).")
    unit = serializers.CharField(allow_blank=True)
    polygon = serializers.ListField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.FloatField())),
        help_text="GeoJSON Polygon coordinates in floor metres: [ring][point][x, y].",
    )
    c = serializers.ListField(child=serializers.FloatField(), help_text="The centroid [x, y].")


class MapAssetSerializer(serializers.Serializer):
    """One marker. Short keys: a floor carries hundreds."""

    id = serializers.IntegerField()
    tag = serializers.CharField()
    type = serializers.IntegerField(help_text="The asset type id.")
    model = serializers.CharField(allow_blank=True)
    state = serializers.CharField(help_text="The lifecycle state (GET /api/v1/states/).")
    room = serializers.IntegerField(allow_null=True)
    x = serializers.FloatField(allow_null=True)
    y = serializers.FloatField(allow_null=True)
    r = serializers.FloatField(allow_null=True, help_text="Position uncertainty radius, metres.")
    conf = serializers.FloatField(allow_null=True, help_text="Location confidence, 0 to 1.")
    seen = serializers.DateTimeField(allow_null=True, help_text="Last seen.")
    status = serializers.CharField(help_text="Location status now: located, stale or missing.")
    stale_at = serializers.DateTimeField(
        allow_null=True, help_text="When it turns stale without a new sighting (null: it does not)."
    )
    missing_at = serializers.DateTimeField(
        allow_null=True, help_text="When it turns missing without a new sighting (null: it does not)."
    )
    svc = serializers.BooleanField(help_text="Serviceable: no overdue or failed maintenance.")
    loan = serializers.CharField(allow_null=True, help_text="On loan to whom, until when.")


class MapFloorDataSerializer(serializers.Serializer):
    floor = MapFloorSerializer()
    bounds = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        allow_null=True,
        help_text="[[minx, miny], [maxx, maxy]]",
    )
    rooms = MapRoomSerializer(many=True)
    assets = MapAssetSerializer(many=True)
    server_time = serializers.DateTimeField()


class MapFloorChangesSerializer(serializers.Serializer):
    floor_id = serializers.IntegerField()
    full = serializers.BooleanField(help_text="True: everything on the floor (no since).")
    assets = MapAssetSerializer(many=True)
    ids = serializers.ListField(child=serializers.IntegerField(), help_text="Everything on the floor now.")
    server_time = serializers.DateTimeField(help_text="Send it back as since.")


class MapAssetTypeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()


class MapPlaceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["room", "unit"])
    id = serializers.JSONField(help_text="A room id, or the unit's name.")
    label = serializers.CharField()
    floor = serializers.IntegerField(required=False, help_text="Rooms only.")
    unit = serializers.CharField(required=False, allow_blank=True, help_text="Rooms only.")
    measured_from = serializers.JSONField(required=False, help_text="Units: the room distances are measured from.")


class MapPlacesSerializer(serializers.Serializer):
    places = MapPlaceSerializer(many=True)


class _Ref(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class MapSearchResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tag = serializers.CharField()
    type = serializers.CharField()
    model = serializers.CharField(allow_blank=True)
    state = serializers.CharField()
    room = _Ref()
    floor = _Ref()
    building = serializers.CharField()
    distance_m = serializers.FloatField()
    same_floor = serializers.BooleanField()
    same_building = serializers.BooleanField()
    status = serializers.CharField()
    seen = serializers.DateTimeField(allow_null=True)


class MapSearchSerializer(serializers.Serializer):
    query = serializers.CharField(allow_blank=True)
    type = MapAssetTypeSerializer(allow_null=True, help_text="The type searched for; null when none or several match.")
    types = MapAssetTypeSerializer(many=True, help_text="Other matching types, or the choices when ambiguous.")
    origin = MapPlaceSerializer()
    results = MapSearchResultSerializer(many=True)
    message = serializers.CharField(allow_blank=True)


class MapActionResultSerializer(serializers.Serializer):
    asset = MapAssetSerializer()
    message = serializers.CharField()


class _RequestCreated(serializers.Serializer):
    id = serializers.IntegerField()
    asset_type = serializers.CharField()
    destination = _Ref()
    priority = serializers.CharField()
    status = serializers.CharField()


class MapRequestCreatedSerializer(serializers.Serializer):
    request = _RequestCreated()
    message = serializers.CharField()


class MapSessionSerializer(serializers.Serializer):
    url = serializers.CharField()
    login_url = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until this session signs out without activity.")
    idle_s = serializers.IntegerField()
    warn_s = serializers.IntegerField()
