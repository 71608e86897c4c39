"""Read side of equipment requests: the dispatch queue (open requests by priority, then age)."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from lifecycle.requests.choices import PRIORITY_RANK
from lifecycle.requests.models import EquipmentRequest


def priority_rank():
    """An expression: 0 for STAT, 1 for urgent, 2 for routine."""
    return Case(
        *(When(priority=priority.value, then=Value(rank)) for priority, rank in PRIORITY_RANK.items()),
        default=Value(len(PRIORITY_RANK)),
        output_field=IntegerField(),
    )


def equipment_requests() -> QuerySet[EquipmentRequest]:
    """All requests, with everything a list shows joined in, most urgent and oldest first."""
    return (
        EquipmentRequest.objects.select_related(
            "asset_type",
            "destination_room__floor__building",
            "asset__current_room__floor__building",
            "requested_by",
            "assigned_by",
            "delivered_by",
            "cancelled_by",
        )
        .annotate(priority_rank=priority_rank())
        .order_by("priority_rank", "created_at", "id")
    )
