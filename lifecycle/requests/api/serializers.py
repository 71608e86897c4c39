from __future__ import annotations

from rest_framework import serializers

from assets.api.serializers import AssetTypeRefSerializer
from assets.models import Asset, AssetType
from config.api import AwareDateTimeField
from lifecycle.requests.choices import RequestPriority
from lifecycle.requests.models import EquipmentRequest
from locations.api.resource_serializers import RoomRefSerializer
from locations.models import Room


class AssignedAssetSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)
    room = RoomRefSerializer(source="current_room", read_only=True, allow_null=True)

    class Meta:
        model = Asset
        fields = ["id", "asset_tag", "state", "room", "last_seen"]


class EquipmentRequestSerializer(serializers.ModelSerializer):
    asset_type = AssetTypeRefSerializer(read_only=True)
    destination_room = RoomRefSerializer(read_only=True)
    asset = AssignedAssetSerializer(read_only=True, allow_null=True)
    requested_by = serializers.SerializerMethodField()
    assigned_by = serializers.SerializerMethodField()
    delivered_by = serializers.SerializerMethodField()
    cancelled_by = serializers.SerializerMethodField()

    class Meta:
        model = EquipmentRequest
        fields = [
            "id",
            "status",
            "priority",
            "asset_type",
            "destination_room",
            "needed_by",
            "note",
            "requested_by",
            "created_at",
            "asset",
            "assigned_by",
            "assigned_at",
            "delivered_by",
            "delivered_at",
            "cancelled_by",
            "cancelled_at",
            "cancel_reason",
        ]

    def _name(self, user) -> str | None:
        return user.get_username() if user is not None else None

    def get_requested_by(self, r) -> str:
        return r.requested_by.get_username()

    def get_assigned_by(self, r) -> str | None:
        return self._name(r.assigned_by)

    def get_delivered_by(self, r) -> str | None:
        return self._name(r.delivered_by)

    def get_cancelled_by(self, r) -> str | None:
        return self._name(r.cancelled_by)


class EquipmentRequestCreateSerializer(serializers.Serializer):
    asset_type = serializers.SlugRelatedField(
        slug_field="slug", queryset=AssetType.objects.all(), help_text="Asset type slug, e.g. infusion-pump."
    )
    destination_room = serializers.PrimaryKeyRelatedField(queryset=Room.objects.all(), help_text="Room id.")
    priority = serializers.ChoiceField(choices=RequestPriority.choices, default=RequestPriority.ROUTINE)
    needed_by = AwareDateTimeField(required=False, allow_null=True, help_text="With a time zone.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class EquipmentRequestAssignSerializer(serializers.Serializer):
    asset = serializers.PrimaryKeyRelatedField(
        queryset=Asset.objects.all(),
        required=False,
        allow_null=True,
        help_text="Asset id to reserve; leave out to take the nearest available located one.",
    )


class EquipmentRequestDeliverSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class EquipmentRequestCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
