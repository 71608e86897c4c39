from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from declarations.location_status import LocationStatus
from declarations.states import AssetState
from declarations.transitions import TransitionName
from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.models import Recall, Source, TransitionLog, WorkOrder
from locations.api.resource_serializers import (
    BuildingRefSerializer,
    FloorRefSerializer,
    RoomRefSerializer,
)


class StateDefinitionSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="Machine name, as stored and as used in filters.")
    label = serializers.CharField()
    definition = serializers.CharField(help_text="The one agreed meaning of the state (docs/design.md §2).")
    colour = serializers.CharField(help_text='Background colour, "#rrggbb"; white text on it is readable.')
    icon = serializers.CharField(help_text="A Unicode symbol that identifies the state without colour.")
    shape = serializers.CharField(help_text="Map marker shape, unique per state.")
    pattern = serializers.CharField(help_text="Fill pattern hint: solid, stripes, dots, hatch, outline.")
    usable = serializers.BooleanField(help_text="May be handed to a patient now.")
    terminal = serializers.BooleanField(help_text="No transition leaves this state.")


# --- Transitions -----------------------------------------------------------------------------------


USER_TRANSITIONS = [(v, label) for v, label in TransitionName.choices if v != TransitionName.APPLY_ROOM_RULE]


class TransitionRequestSerializer(serializers.Serializer):
    transition = serializers.ChoiceField(choices=USER_TRANSITIONS)
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000, help_text="Required for send_to_biomed."
    )
    to_state = serializers.ChoiceField(
        choices=[AssetState.AVAILABLE, AssetState.SOILED],
        required=False,
        help_text="return_to_service only: available (default) or soiled (needs reprocessing first).",
    )

    def validate(self, attrs):
        if "to_state" in attrs and attrs["transition"] != TransitionName.RETURN_TO_SERVICE:
            raise serializers.ValidationError(
                {
                    "to_state": [
                        _("%(name)s does not take a target state: only return_to_service does")
                        % {"name": attrs["transition"]}
                    ]
                }
            )
        return attrs


class TransitionLogSerializer(serializers.ModelSerializer):
    asset_tag = serializers.CharField(source="asset.asset_tag", read_only=True)
    user = serializers.SerializerMethodField(help_text="Username; null for the system (room-type rules).")
    room = RoomRefSerializer(read_only=True, allow_null=True)
    source = serializers.ChoiceField(choices=Source.choices)

    class Meta:
        model = TransitionLog
        fields = [
            "id",
            "asset",
            "asset_tag",
            "transition",
            "from_state",
            "to_state",
            "user",
            "at",
            "room",
            "note",
            "source",
        ]

    def get_user(self, entry) -> str | None:
        return entry.user.get_username() if entry.user_id else None


# --- Work orders and recalls -------------------------------------------------------------------------


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


class WorkOrderSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    asset_tag = serializers.CharField(source="asset.asset_tag", read_only=True)
    recall_reference = serializers.CharField(source="recall.reference_number", read_only=True, allow_null=True)
    technician = serializers.SerializerMethodField()
    opened_by = serializers.SerializerMethodField()

    class Meta:
        model = WorkOrder
        fields = [
            "id",
            "reference",
            "asset",
            "asset_tag",
            "kind",
            "status",
            "recall",
            "recall_reference",
            "technician",
            "notes",
            "opened_at",
            "opened_by",
            "closed_at",
        ]

    def get_technician(self, work_order) -> str | None:
        return _username(work_order.technician)

    def get_opened_by(self, work_order) -> str | None:
        return _username(work_order.opened_by)


class RecallSerializer(serializers.ModelSerializer):
    serial_numbers = serializers.SerializerMethodField(help_text='The affected serial numbers, or ["all"].')
    affects_all = serializers.BooleanField(read_only=True)

    class Meta:
        model = Recall
        fields = [
            "id",
            "reference_number",
            "manufacturer",
            "model",
            "serial_numbers",
            "affects_all",
            "description",
            "issued_date",
            "created_at",
        ]

    def get_serial_numbers(self, recall) -> list[str]:
        return [Recall.ALL_SERIALS] if recall.affects_all else list(recall.serial_numbers)


class RecallAffectedAssetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    asset_tag = serializers.CharField()
    serial_number = serializers.CharField()
    state = serializers.ChoiceField(choices=AssetState.choices)
    location_status = serializers.ChoiceField(choices=LocationStatus.choices)
    room = RoomRefSerializer(source="current_room", allow_null=True)
    floor = FloorRefSerializer(source="current_room.floor", allow_null=True)
    building = BuildingRefSerializer(source="current_room.floor.building", allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    recall_work_order_id = serializers.IntegerField(allow_null=True)
    recall_work_order_status = serializers.CharField(allow_null=True)


# --- Par levels and alerts ---------------------------------------------------------------------------


class ParLevelSerializer(serializers.ModelSerializer):
    asset_type_slug = serializers.CharField(source="asset_type.slug", read_only=True)
    available_count = serializers.IntegerField(
        read_only=True, help_text="Available and located assets of the type in the unit's rooms, now."
    )
    below_critical = serializers.SerializerMethodField()
    shortfall = serializers.SerializerMethodField(help_text="How many are missing to reach the target (0 if none).")

    class Meta:
        model = ParLevel
        fields = [
            "id",
            "unit",
            "asset_type",
            "asset_type_slug",
            "target",
            "critical",
            "available_count",
            "below_critical",
            "shortfall",
        ]

    def get_below_critical(self, par_level) -> bool:
        return par_level.available_count < par_level.critical

    def get_shortfall(self, par_level) -> int:
        return max(0, par_level.target - par_level.available_count)


class AlertSubjectSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["asset", "tag", "par_level", "receiver"])
    id = serializers.IntegerField()
    label = serializers.CharField()


class AlertSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=AlertKind.choices)
    status = serializers.ChoiceField(choices=AlertStatus.choices)
    subject = serializers.SerializerMethodField()
    acknowledged_by = serializers.SerializerMethodField()
    resolved_by = serializers.SerializerMethodField()

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "status",
            "subject",
            "message",
            "created_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
            "resolved_by",
            "auto_resolved",
        ]

    @extend_schema_field(AlertSubjectSerializer)
    def get_subject(self, alert) -> dict:
        field = AlertKind(alert.kind).subject_field
        return {"type": field, "id": getattr(alert, f"{field}_id"), "label": str(alert.subject)}

    def get_acknowledged_by(self, alert) -> str | None:
        return _username(alert.acknowledged_by)

    def get_resolved_by(self, alert) -> str | None:
        return _username(alert.resolved_by)
