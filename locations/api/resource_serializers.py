"""Serializers of the locations read endpoints, and the small references other resources embed."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api_permissions import SecurityFieldsMixin
from locations.models import Building, Floor, Receiver, Room, Site


class SiteRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name"]


class BuildingRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Building
        fields = ["id", "code", "name", "site"]


class FloorRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Floor
        fields = ["id", "code", "name", "level", "building"]


class RoomRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Room
        fields = ["id", "code", "name", "room_type", "unit", "floor"]


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["id", "code", "name"]


class BuildingSerializer(serializers.ModelSerializer):
    site = SiteRefSerializer(read_only=True)

    class Meta:
        model = Building
        fields = ["id", "code", "name", "site"]


class FloorSerializer(serializers.ModelSerializer):
    building = BuildingRefSerializer(read_only=True)

    class Meta:
        model = Floor
        fields = ["id", "code", "level", "name", "building"]


GEOJSON_FEATURE_COLLECTION = {
    "type": "object",
    "description": "GeoJSON FeatureCollection in floor metres: one Polygon feature per room.",
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "enum": ["Feature"]},
                    "id": {"type": "integer"},
                    "geometry": {"type": "object", "additionalProperties": True},
                    "properties": {"type": "object", "additionalProperties": True},
                },
            },
        },
    },
}


def rooms_feature_collection(rooms) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": room.pk,
                "geometry": room.polygon,
                "properties": {
                    "kind": "room",
                    "code": room.code,
                    "name": room.name,
                    "room_type": room.room_type,
                    "unit": room.unit,
                    "centroid": [room.centroid_x, room.centroid_y],
                    "area_m2": round(room.area_m2, 2),
                },
            }
            for room in rooms
        ],
    }


class FloorDetailSerializer(FloorSerializer):
    rooms = serializers.SerializerMethodField(help_text="The floor's rooms as a GeoJSON FeatureCollection.")

    class Meta(FloorSerializer.Meta):
        fields = [*FloorSerializer.Meta.fields, "rooms"]

    @extend_schema_field(GEOJSON_FEATURE_COLLECTION)
    def get_rooms(self, floor) -> dict:
        return rooms_feature_collection(floor.rooms.order_by("code"))


class RoomSerializer(serializers.ModelSerializer):
    floor = FloorRefSerializer(read_only=True)
    polygon = serializers.JSONField(help_text="GeoJSON Polygon geometry in floor metres.")

    class Meta:
        model = Room
        fields = [
            "id",
            "code",
            "name",
            "room_type",
            "unit",
            "site",
            "floor",
            "polygon",
            "centroid_x",
            "centroid_y",
            "area_m2",
        ]


class ReceiverSerializer(SecurityFieldsMixin, serializers.ModelSerializer):
    floor = FloorRefSerializer(read_only=True)
    room = RoomRefSerializer(read_only=True, allow_null=True)
    # Where the receivers hang is for the roles that need it (declarations/policy.py READ_SECURITY_FIELDS).
    x = serializers.FloatField(required=False, help_text="Floor metres; only for roles that read security fields.")
    y = serializers.FloatField(required=False, help_text="Floor metres; only for roles that read security fields.")
    height_m = serializers.FloatField(
        required=False, allow_null=True, help_text="Metres; only for roles that read security fields."
    )
    security_fields = ("x", "y", "height_m")

    class Meta:
        model = Receiver
        fields = [
            "id",
            "gateway_id",
            "floor",
            "room",
            "x",
            "y",
            "rssi_at_1m",
            "path_loss_exponent",
            "height_m",
            "active",
            "last_heard",
            "clock_offset_s",
            "clock_pairs",
            "clock_estimated_at",
            "calibration_db",
            "detection_floor_dbm",
        ]
        read_only_fields = [
            "clock_offset_s",
            "clock_pairs",
            "clock_estimated_at",
            "calibration_db",
            "detection_floor_dbm",
        ]
