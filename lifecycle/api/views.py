import django_filters
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from assets.models import Asset
from config.api_filters import StrictBooleanFilter, StrictFilterSet
from declarations.states import all_state_definitions
from lifecycle.alerts.choices import OPEN_STATUSES, AlertKind, AlertStatus
from lifecycle.alerts.models import Alert
from lifecycle.alerts.selectors import alerts_with_subjects, par_levels_with_counts
from lifecycle.alerts.services import alert_acknowledge, alert_resolve
from lifecycle.api.permissions import MayHandleAlerts
from lifecycle.api.serializers import (
    AlertSerializer,
    ParLevelSerializer,
    RecallAffectedAssetSerializer,
    RecallSerializer,
    StateDefinitionSerializer,
    TransitionLogSerializer,
    TransitionRequestSerializer,
    WorkOrderSerializer,
)
from lifecycle.models import Recall, Source, WorkOrder
from lifecycle.selectors import asset_transition_history, recall_affected_assets
from lifecycle.services import asset_transition

ID = r"[0-9]{1,18}"


class StateListView(APIView):
    """The lifecycle states and their shared definitions: the same text as the admin, the map and the docs."""

    @extend_schema(responses=StateDefinitionSerializer(many=True), operation_id="states_list")
    def get(self, request):
        return Response(StateDefinitionSerializer(all_state_definitions(), many=True).data)


# --- Transitions ------------------------------------------------------------------------------------


class AssetTransitionsView(GenericAPIView):
    """GET: the asset's transition log, newest first. POST: run a transition (lifecycle.services.asset_transition).

    403 when your role may not run it; 409 when the state does not allow it, a guard refuses it (with the
    reasons, e.g. "PM overdue since 2026-10-02"), or someone else changed the asset first.
    """

    serializer_class = TransitionLogSerializer
    queryset = Asset.objects.none()  # for the schema: the path's asset is looked up in each method

    @extend_schema(summary="Transition log of an asset, newest first", responses=TransitionLogSerializer(many=True))
    def get(self, request, asset_id):
        asset = get_object_or_404(Asset, pk=asset_id)
        page = self.paginate_queryset(asset_transition_history(asset=asset).select_related("asset"))
        return self.get_paginated_response(TransitionLogSerializer(page, many=True).data)

    @extend_schema(
        summary="Run a lifecycle transition",
        request=TransitionRequestSerializer,
        responses={201: TransitionLogSerializer},
    )
    def post(self, request, asset_id):
        asset = get_object_or_404(Asset.objects.select_related("current_room"), pk=asset_id)
        body = TransitionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = asset_transition(
            asset=asset,
            transition=body.validated_data["transition"],
            user=request.user,
            note=body.validated_data["note"],
            source=Source.API,
            to_state=body.validated_data.get("to_state"),
        )
        return Response(TransitionLogSerializer(entry).data, status=status.HTTP_201_CREATED)


# --- Operational resources: work orders, recalls, par levels, alerts -----------------------------------


class WorkOrderViewSet(viewsets.ReadOnlyModelViewSet):
    """PM, repair, calibration and recall work orders (opened and closed by clinical engineering in the admin)."""

    serializer_class = WorkOrderSerializer
    queryset = WorkOrder.objects.select_related("asset", "recall", "technician", "opened_by").order_by(
        "-opened_at", "-id"
    )
    filterset_fields = ["asset", "kind", "status", "recall"]
    lookup_value_regex = ID


class RecallViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RecallSerializer
    queryset = Recall.objects.order_by("-issued_date", "reference_number")
    filterset_fields = ["manufacturer", "model"]
    lookup_value_regex = ID

    @extend_schema(
        summary="The recalled assets still in service, where they are now, and their recall work order",
        responses=RecallAffectedAssetSerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="affected-assets", filter_backends=[])
    def affected_assets(self, request, pk=None):
        recall = self.get_object()
        page = self.paginate_queryset(recall_affected_assets(recall=recall))
        return self.get_paginated_response(RecallAffectedAssetSerializer(page, many=True).data)


class ParLevelViewSet(viewsets.ReadOnlyModelViewSet):
    """Par levels with their live count: available and located assets of the type in the unit's rooms."""

    serializer_class = ParLevelSerializer
    filterset_fields = ["unit", "asset_type"]
    lookup_value_regex = ID

    def get_queryset(self):
        return par_levels_with_counts().order_by("unit", "asset_type__name")


class AlertFilterSet(StrictFilterSet):
    open = StrictBooleanFilter(method="filter_open", help_text="Only new and acknowledged alerts.")
    kind = django_filters.MultipleChoiceFilter(choices=AlertKind.choices)
    status = django_filters.MultipleChoiceFilter(choices=AlertStatus.choices)

    class Meta:
        model = Alert
        fields = ["asset", "tag", "par_level", "receiver"]

    def filter_open(self, queryset, name, value):
        return queryset.open() if value else queryset.exclude(status__in=OPEN_STATUSES)


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AlertSerializer
    filterset_class = AlertFilterSet
    lookup_value_regex = ID

    def get_queryset(self):
        return alerts_with_subjects().order_by("-created_at", "-pk")

    def get_permissions(self):
        if self.action in ("acknowledge", "resolve"):
            return [MayHandleAlerts()]
        return super().get_permissions()

    @extend_schema(
        summary="Acknowledge: you have seen the alert and are dealing with it", request=None, responses=AlertSerializer
    )
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        alert = alert_acknowledge(alert=self.get_object(), user=request.user)
        return Response(AlertSerializer(alerts_with_subjects().get(pk=alert.pk)).data)

    @extend_schema(
        summary="Resolve the alert (if its condition still holds, the next check raises a new one)",
        request=None,
        responses=AlertSerializer,
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        alert = alert_resolve(alert=self.get_object(), user=request.user)
        return Response(AlertSerializer(alerts_with_subjects().get(pk=alert.pk)).data)
