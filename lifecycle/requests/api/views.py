"""/api/v1/equipment-requests/: the dispatch queue and its workflow (create, assign, deliver, cancel)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from config.api_filters import StrictBooleanFilter, StrictFilterSet
from lifecycle.api.permissions import MayAssignRequests, MayDeliverRequests, MayRequestEquipment
from lifecycle.models import Source
from lifecycle.requests import services
from lifecycle.requests.api.serializers import (
    EquipmentRequestAssignSerializer,
    EquipmentRequestCancelSerializer,
    EquipmentRequestCreateSerializer,
    EquipmentRequestDeliverSerializer,
    EquipmentRequestSerializer,
)
from lifecycle.requests.choices import OPEN_REQUEST_STATUSES, RequestPriority, RequestStatus
from lifecycle.requests.models import EquipmentRequest
from lifecycle.requests.selectors import equipment_requests


class EquipmentRequestFilterSet(StrictFilterSet):
    open = StrictBooleanFilter(
        method="filter_open", help_text="Only open and assigned requests (true); or only closed ones (false)."
    )
    status = django_filters.MultipleChoiceFilter(choices=RequestStatus.choices)
    priority = django_filters.MultipleChoiceFilter(choices=RequestPriority.choices)
    asset_type = django_filters.CharFilter(field_name="asset_type__slug", help_text="Asset type slug.")
    unit = django_filters.CharFilter(field_name="destination_room__unit", help_text="Destination room's unit.")

    class Meta:
        model = EquipmentRequest
        fields = ["destination_room", "asset"]

    def filter_open(self, queryset, name, value):
        if value:
            return queryset.filter(status__in=OPEN_REQUEST_STATUSES)
        return queryset.exclude(status__in=OPEN_REQUEST_STATUSES)


class EquipmentRequestViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Listed by priority (STAT, urgent, routine), then age (oldest first). ``?open=true`` is the queue."""

    serializer_class = EquipmentRequestSerializer
    filterset_class = EquipmentRequestFilterSet
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        return equipment_requests()

    def get_permissions(self):
        if self.action == "create":
            return [MayRequestEquipment()]
        if self.action == "assign":
            return [MayAssignRequests()]
        if self.action == "deliver":
            return [MayDeliverRequests()]
        return super().get_permissions()

    def _answer(self, equipment_request, code=status.HTTP_200_OK):
        fresh = equipment_requests().get(pk=equipment_request.pk)
        return Response(EquipmentRequestSerializer(fresh).data, status=code)

    @extend_schema(
        summary="Request equipment (nurse or dispatch)",
        request=EquipmentRequestCreateSerializer,
        responses={201: EquipmentRequestSerializer},
    )
    def create(self, request, *args, **kwargs):
        body = EquipmentRequestCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = services.equipment_request_create(user=request.user, **body.validated_data)
        return self._answer(created, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Assign: reserve the given asset, or the nearest available located one (dispatch)",
        description="409 when the request is no longer open, the asset is not available (someone else "
        "reserved it first), a guard refuses it (not located, PM overdue, open recall), or nothing could be "
        "reserved (reasons lists what was tried).",
        request=EquipmentRequestAssignSerializer,
        responses=EquipmentRequestSerializer,
    )
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        body = EquipmentRequestAssignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        assigned = services.equipment_request_assign(
            equipment_request=self.get_object(),
            user=request.user,
            asset=body.validated_data.get("asset"),
            source=Source.API,
        )
        return self._answer(assigned)

    @extend_schema(
        summary="Deliver: the reserved asset is at the destination and goes in use (dispatch)",
        request=EquipmentRequestDeliverSerializer,
        responses=EquipmentRequestSerializer,
    )
    @action(detail=True, methods=["post"])
    def deliver(self, request, pk=None):
        body = EquipmentRequestDeliverSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        delivered = services.equipment_request_deliver(
            equipment_request=self.get_object(), user=request.user, note=body.validated_data["note"], source=Source.API
        )
        return self._answer(delivered)

    @extend_schema(
        summary="Cancel: an assigned request's asset is released (dispatch, or the requester)",
        request=EquipmentRequestCancelSerializer,
        responses=EquipmentRequestSerializer,
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        body = EquipmentRequestCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        cancelled = services.equipment_request_cancel(
            equipment_request=self.get_object(),
            user=request.user,
            reason=body.validated_data["reason"],
            source=Source.API,
        )
        return self._answer(cancelled)
