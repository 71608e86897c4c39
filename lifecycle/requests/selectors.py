"""Read side of equipment requests: the dispatch queue (open requests by priority, then age)."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from lifecycle.requests.choices import OPEN_REQUEST_STATUSES, PRIORITY_RANK
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


# --- Which request holds an asset ------------------------------------------------------------------------
# An assigned request holds its asset until it is delivered or cancelled (one_open_request_per_asset): the
# asset's release and deliver go through the request, and nobody else is offered or given it meanwhile.


def open_request_holding(*, asset_id: int) -> EquipmentRequest | None:
    """The open (assigned) equipment request that holds the asset, if any (at most one)."""
    return (
        EquipmentRequest.objects.filter(asset_id=asset_id, status__in=OPEN_REQUEST_STATUSES)
        .select_related("assigned_by", "destination_room")
        .first()
    )


def assets_held_by_open_requests(*, asset_ids) -> set[int]:
    """Of ``asset_ids``, those an open equipment request holds."""
    return set(
        EquipmentRequest.objects.filter(asset_id__in=list(asset_ids), status__in=OPEN_REQUEST_STATUSES).values_list(
            "asset_id", flat=True
        )
    )


def holder_description(equipment_request: EquipmentRequest) -> str:
    """ "equipment request #7 for W401, assigned by d1 at 10:02:03": who holds an asset, for a refusal."""
    room = equipment_request.destination_room
    text = _("equipment request #%(id)s for %(room)s") % {"id": equipment_request.pk, "room": room.code}
    if equipment_request.assigned_at:
        who = equipment_request.assigned_by.get_username() if equipment_request.assigned_by else _("the system")
        text += _(", assigned by %(who)s at %(at)s") % {
            "who": who,
            "at": f"{timezone.localtime(equipment_request.assigned_at):%H:%M:%S}",
        }
    return text
