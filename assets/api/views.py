"""Assets and asset types: list, detail, nearest available, location history. Reads only; state changes
go through POST /api/v1/assets/{id}/transitions/ (lifecycle.api)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, filters, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from assets.api.serializers import (
    AssetDetailSerializer,
    AssetSerializer,
    AssetTypeSerializer,
    LocationHistoryQuerySerializer,
    LocationHistorySerializer,
    NearestQuerySerializer,
    NearestResponseSerializer,
)
from assets.filtersets import AssetFilterSet
from assets.models import Asset, AssetType
from config.api import StrictOrderingFilter
from config.api_filters import StrictFilterBackend
from declarations.tag_ids import TagIdError, normalize_tag_id
from lifecycle.nearest import assets_nearest_available, nearest_penalties
from locations.freshness import assets_with_location_status
from locations.models import Room
from locations.selectors import asset_location_history

ID = r"[0-9]{1,18}"


class AssetSearchFilter(filters.SearchFilter):
    """search= matches asset tag, serial, model and RTLS tag id; a tag id may be typed as c3:00:00:00:01:0a."""

    def get_search_terms(self, request):
        terms = []
        for term in super().get_search_terms(request):
            try:
                terms.append(normalize_tag_id(term) if any(c in term for c in ":-.") else term)
            except TagIdError:
                terms.append(term)
        return terms


class AssetTypeViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AssetType.objects.order_by("name")
    serializer_class = AssetTypeSerializer
    lookup_value_regex = ID


def _asset_type_from(value: str) -> AssetType:
    value = value.strip()
    found = AssetType.objects.filter(pk=int(value)).first() if value.isdigit() and len(value) <= 18 else None
    found = found or AssetType.objects.filter(slug=value).first()
    if found is None:
        known = ", ".join(AssetType.objects.order_by("slug").values_list("slug", flat=True)[:30])
        raise exceptions.ValidationError({"type": [f"no asset type {value!r}; known: {known or '(none)'}"]})
    return found


def _room_from(value: str) -> Room:
    value = value.strip()
    if value.isdigit() and len(value) <= 18:
        room = Room.objects.filter(pk=int(value)).first()
        if room is not None:
            return room
    rooms = list(Room.objects.filter(code=value).select_related("site")[:5])
    if len(rooms) == 1:
        return rooms[0]
    if rooms:
        sites = ", ".join(sorted(r.site.code for r in rooms))
        raise exceptions.ValidationError(
            {"room": [f"room code {value!r} exists on several sites ({sites}): use its id"]}
        )
    raise exceptions.ValidationError({"room": [f"no room with id or code {value!r}"]})


class AssetViewSet(viewsets.ReadOnlyModelViewSet):
    """Equipment: where it is (with freshness), its state (with the shared definition), what you may do."""

    filterset_class = AssetFilterSet
    filter_backends = [StrictFilterBackend, AssetSearchFilter, StrictOrderingFilter]
    search_fields = ["asset_tag", "serial_number", "model", "tag__tag_id"]
    ordering_fields = ["asset_tag", "last_seen", "state", "asset_type__name", "unit", "updated_at"]
    ordering = ["asset_tag"]
    lookup_value_regex = ID

    def get_queryset(self):
        return assets_with_location_status(queryset=Asset.objects.select_related("asset_type", "tag"))

    def get_serializer_class(self):
        return AssetDetailSerializer if self.action == "retrieve" else AssetSerializer

    @extend_schema(
        summary="Nearest available equipment of a type",
        description=(
            "Available assets (the shared definition: state available, PM not overdue, no open recall) of the "
            "type, nearest to the room first. Located ones first by distance, then stale ones (marked "
            "`stale`); missing and decommissioned ones never. Same floor: distance between room centroids; "
            "other floors: plus `floor_penalty_m` per floor; other building: plus `building_penalty_m`."
        ),
        parameters=[
            OpenApiParameter("type", OpenApiTypes.STR, required=True, description="Asset type slug or id."),
            OpenApiParameter("room", OpenApiTypes.STR, required=True, description="Room id, or its code if unique."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1..100, default 10."),
        ],
        responses=NearestResponseSerializer,
    )
    @action(detail=False, methods=["get"], url_path="nearest", filter_backends=[], pagination_class=None)
    def nearest(self, request):
        query = NearestQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        asset_type = _asset_type_from(query.validated_data["type"])
        origin = _room_from(query.validated_data["room"])
        results = assets_nearest_available(asset_type=asset_type, room=origin, limit=query.validated_data["limit"])
        floor_penalty, building_penalty = nearest_penalties()
        data = {
            "asset_type": asset_type,
            "origin": origin,
            "floor_penalty_m": floor_penalty,
            "building_penalty_m": building_penalty,
            "results": results,
        }
        return Response(NearestResponseSerializer(data).data)

    @extend_schema(
        summary="Location history of an asset (room stays, oldest first)",
        parameters=[LocationHistoryQuerySerializer],
        responses=LocationHistorySerializer(many=True),
    )
    @action(detail=True, methods=["get"], url_path="location-history", filter_backends=[])
    def location_history(self, request, pk=None):
        asset = get_object_or_404(Asset, pk=pk)
        query = LocationHistoryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        stays = asset_location_history(asset=asset, since=query.validated_data.get("since"))
        page = self.paginate_queryset(stays)
        return self.get_paginated_response(LocationHistorySerializer(page, many=True).data)
