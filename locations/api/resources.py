"""Read endpoints for the places: sites, buildings, floors (with room polygons as GeoJSON), rooms, receivers.

Read-only for every role the policy table lets read locations (declarations/policy.py): floor plans are
loaded with ``manage.py import_floorplan``. Receiver positions only for roles that read security fields.
"""

from __future__ import annotations

import django_filters
from rest_framework import filters, viewsets

from config.api_permissions import MayReadLocations
from declarations.room_types import RoomType
from locations.api.resource_serializers import (
    BuildingSerializer,
    FloorDetailSerializer,
    FloorSerializer,
    ReceiverSerializer,
    RoomSerializer,
    SiteSerializer,
)
from locations.models import Building, Floor, Receiver, Room, Site

ID = r"[0-9]{1,18}"


class SiteViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [MayReadLocations]
    queryset = Site.objects.order_by("code")
    serializer_class = SiteSerializer
    lookup_value_regex = ID


class BuildingViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [MayReadLocations]
    queryset = Building.objects.select_related("site").order_by("site__code", "code")
    serializer_class = BuildingSerializer
    filterset_fields = ["site"]
    lookup_value_regex = ID


class FloorViewSet(viewsets.ReadOnlyModelViewSet):
    """A floor's detail carries its rooms as a GeoJSON FeatureCollection (the list leaves them out)."""

    permission_classes = [MayReadLocations]
    queryset = Floor.objects.select_related("building__site").order_by("building__code", "level")
    filterset_fields = ["building", "building__site", "level"]
    lookup_value_regex = ID

    def get_serializer_class(self):
        return FloorDetailSerializer if self.action == "retrieve" else FloorSerializer


class RoomFilterSet(django_filters.FilterSet):
    room_type = django_filters.ChoiceFilter(choices=RoomType.choices)
    building = django_filters.NumberFilter(field_name="floor__building_id")

    class Meta:
        model = Room
        fields = ["site", "floor", "unit", "code"]


class RoomViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [MayReadLocations]
    queryset = Room.objects.select_related("floor").order_by("site__code", "code")
    serializer_class = RoomSerializer
    filterset_class = RoomFilterSet
    filter_backends = [django_filters.rest_framework.DjangoFilterBackend, filters.SearchFilter]
    search_fields = ["code", "name", "unit"]
    lookup_value_regex = ID


class ReceiverViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [MayReadLocations]
    queryset = Receiver.objects.select_related("floor", "room").order_by("gateway_id")
    serializer_class = ReceiverSerializer
    filterset_fields = ["floor", "active", "room"]
    lookup_value_regex = ID
