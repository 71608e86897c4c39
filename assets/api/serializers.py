"""Assets as the API shows them: where (with freshness), what state (with its definition), what you may do."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assets.models import Asset, AssetType, Tag
from config.api_permissions import SecurityFieldsMixin
from declarations.location_status import LocationStatus
from declarations.states import AssetState, state_definition
from declarations.tag_ids import format_tag_id
from lifecycle.api.serializers import StateDefinitionSerializer
from lifecycle.biomed.api import LoanSerializer, PlannedMaintenanceSerializer, loan_data, planned_maintenance_data
from lifecycle.biomed.selectors import high_risk_q
from lifecycle.fsm import asset_transition_options
from lifecycle.selectors import asset_availability_blockers
from locations.api.resource_serializers import BuildingRefSerializer, FloorRefSerializer, RoomRefSerializer
from locations.freshness import asset_location_status


class AssetTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetType
        fields = ["id", "slug", "name", "default_pm_interval_days"]


class AssetTypeRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = AssetType
        fields = ["id", "slug", "name", "default_pm_interval_days"]


class StateRefSerializer(serializers.Serializer):
    value = serializers.ChoiceField(choices=AssetState.choices)
    label = serializers.CharField()


class AssetLocationSerializer(serializers.Serializer):
    """Where the asset is, and how fresh that is (docs/design.md §2: located / stale / missing)."""

    status = serializers.ChoiceField(choices=LocationStatus.choices)
    room = RoomRefSerializer(allow_null=True)
    floor = FloorRefSerializer(allow_null=True)
    building = BuildingRefSerializer(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True, help_text="Event time of the last sighting.")


class AssetLocationDetailSerializer(AssetLocationSerializer):
    located_at = serializers.DateTimeField(allow_null=True, help_text="When the current room was decided.")
    confidence = serializers.FloatField(allow_null=True, help_text="0..1")
    x = serializers.FloatField(allow_null=True, help_text="Trilaterated position, floor metres.")
    y = serializers.FloatField(allow_null=True)
    radius_m = serializers.FloatField(allow_null=True, help_text="Uncertainty radius, metres.")


def _location(asset: Asset, *, detail: bool) -> dict:
    room = asset.current_room
    status = getattr(asset, "location_status", None) or asset_location_status(asset=asset)
    data = {
        "status": status,
        "room": room,
        "floor": room.floor if room else None,
        "building": room.floor.building if room else None,
        "last_seen": asset.last_seen,
    }
    if detail:
        data.update(
            located_at=asset.located_at,
            confidence=asset.location_confidence,
            x=asset.position_x,
            y=asset.position_y,
            radius_m=asset.position_radius_m,
        )
    return data


class AssetSerializer(serializers.ModelSerializer):
    asset_type = AssetTypeRefSerializer(read_only=True)
    state = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    tag_id = serializers.SerializerMethodField(help_text="The bound RTLS tag, aa:bb:cc:dd:ee:ff, or null.")

    class Meta:
        model = Asset
        fields = [
            "id",
            "asset_tag",
            "asset_type",
            "manufacturer",
            "model",
            "serial_number",
            "unit",
            "state",
            "location",
            "tag_id",
        ]

    @extend_schema_field(StateRefSerializer)
    def get_state(self, asset) -> dict:
        return {"value": asset.state, "label": state_definition(asset.state).label}

    @extend_schema_field(AssetLocationSerializer)
    def get_location(self, asset) -> dict:
        return AssetLocationSerializer(_location(asset, detail=False)).data

    def get_tag_id(self, asset) -> str | None:
        try:
            tag = asset.tag
        except Tag.DoesNotExist:
            return None
        return format_tag_id(tag.tag_id) if tag else None


class TagSerializer(serializers.Serializer):
    tag_id = serializers.CharField()
    battery_percent = serializers.IntegerField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)


class TransitionOptionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text='The value to POST as "transition".')
    label = serializers.CharField()
    targets = serializers.ListField(child=serializers.ChoiceField(choices=AssetState.choices))
    needs_note = serializers.BooleanField(help_text="A note saying why is required.")
    blocked_by = serializers.ListField(
        child=serializers.CharField(), help_text="Why a guard refuses it now; empty: it can run now."
    )
    refused_by = serializers.ListField(
        child=serializers.CharField(),
        help_text="The refusing guards' codes (is_located, is_serviceable, decommission_ready), the same in every "
        "language; blocked_by says why in the reader's language. Empty: it can run now.",
    )


class AssetDetailSerializer(SecurityFieldsMixin, AssetSerializer):
    # Only for the roles that need a device's attack surface (declarations/policy.py READ_SECURITY_FIELDS).
    security_fields = ("firmware_version", "networked", "encryption_status", "risk_class")

    state = serializers.SerializerMethodField()
    location = serializers.SerializerMethodField()
    tag = serializers.SerializerMethodField()
    planned_maintenance = serializers.SerializerMethodField(
        help_text="Every maintenance schedule (PM, calibration, safety tests...) with its due date and last result."
    )
    loan = serializers.SerializerMethodField(
        help_text='The open loan, if the device is "on loan until ..."; else null.'
    )
    high_risk = serializers.SerializerMethodField(help_text="Effective: own flag, else type, life-support, risk class.")
    life_support = serializers.SerializerMethodField(help_text="Effective: own flag, else its type's.")
    availability_blockers = serializers.SerializerMethodField(
        help_text='Why the asset may not be "available" now (PM overdue, open recall); empty when it may.'
    )
    transitions = serializers.SerializerMethodField(
        help_text="The transitions your roles allow from the current state; blocked_by empty: you can run it now."
    )

    class Meta(AssetSerializer.Meta):
        fields = [
            *AssetSerializer.Meta.fields,
            "tag",
            "firmware_version",
            "data_bearing",
            "networked",
            "encryption_status",
            "risk_class",
            "high_risk",
            "life_support",
            "aem",
            "aem_rationale",
            "in_service_date",
            "purchase_date",
            "planned_maintenance",
            "loan",
            "availability_blockers",
            "transitions",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(StateDefinitionSerializer)
    def get_state(self, asset) -> dict:
        return StateDefinitionSerializer(state_definition(asset.state)).data

    @extend_schema_field(AssetLocationDetailSerializer)
    def get_location(self, asset) -> dict:
        return AssetLocationDetailSerializer(_location(asset, detail=True)).data

    @extend_schema_field(TagSerializer(allow_null=True))
    def get_tag(self, asset) -> dict | None:
        try:
            tag = asset.tag
        except Tag.DoesNotExist:
            return None
        if tag is None:
            return None
        return {"tag_id": format_tag_id(tag.tag_id), "battery_percent": tag.battery_percent, "last_seen": tag.last_seen}

    @extend_schema_field(PlannedMaintenanceSerializer)
    def get_planned_maintenance(self, asset) -> dict:
        return PlannedMaintenanceSerializer(planned_maintenance_data(asset)).data

    def get_high_risk(self, asset) -> bool:
        return Asset.objects.filter(high_risk_q(), pk=asset.pk).exists()

    def get_life_support(self, asset) -> bool:
        return bool(asset.life_support) if asset.life_support is not None else asset.asset_type.life_support

    @extend_schema_field(LoanSerializer(allow_null=True))
    def get_loan(self, asset) -> dict | None:
        data = loan_data(asset)
        return None if data is None else LoanSerializer(data).data

    def get_availability_blockers(self, asset) -> list[str]:
        return asset_availability_blockers(asset=asset)

    @extend_schema_field(TransitionOptionSerializer(many=True))
    def get_transitions(self, asset) -> list[dict]:
        request = self.context.get("request")
        user = request.user if request else None
        options = [option for option in asset_transition_options(user, asset) if option.permitted]
        return TransitionOptionSerializer(options, many=True).data


class NearestAssetRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Asset
        fields = ["id", "asset_tag", "manufacturer", "model", "serial_number", "unit"]


class NearestResultSerializer(serializers.Serializer):
    asset = NearestAssetRefSerializer()
    room = RoomRefSerializer()
    floor = FloorRefSerializer()
    building = BuildingRefSerializer()
    distance_m = serializers.FloatField(help_text="Metres: centroid distance, plus floor/building penalties.")
    location_status = serializers.ChoiceField(choices=[LocationStatus.LOCATED, LocationStatus.STALE])
    stale = serializers.BooleanField(help_text="Last seen before the freshness window: it may have moved.")
    last_seen = serializers.DateTimeField(allow_null=True)
    same_floor = serializers.BooleanField()
    same_building = serializers.BooleanField()


class NearestResponseSerializer(serializers.Serializer):
    asset_type = AssetTypeRefSerializer()
    origin = RoomRefSerializer(help_text="The room searched from.")
    floor_penalty_m = serializers.FloatField(help_text="Metres added per floor of difference.")
    building_penalty_m = serializers.FloatField(help_text="Metres added for another building.")
    results = NearestResultSerializer(many=True)


class NearestQuerySerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Asset type slug (e.g. infusion-pump) or id.")
    room = serializers.CharField(help_text="Room id, or room code when it is unique.")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class LocationHistorySerializer(serializers.Serializer):
    room = RoomRefSerializer()
    floor = FloorRefSerializer(source="room.floor")
    building = BuildingRefSerializer(source="room.floor.building")
    entered_at = serializers.DateTimeField()
    left_at = serializers.DateTimeField(allow_null=True, help_text="Null while the asset is still there.")


class LocationHistoryQuerySerializer(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False, help_text="Only stays still open at, or entered after, this time."
    )
