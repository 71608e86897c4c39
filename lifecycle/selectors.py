"""Read-side queries of the lifecycle: PM due dates, recalls, rules and history.

What the state machine lets a user do (and its catalogue) is read in lifecycle/fsm.py, the one module that reads
django-fsm's internals."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Trim, Upper
from django.utils.translation import gettext as _

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.biomed.selectors import asset_schedule_blockers, assets_maintenance_overdue
from lifecycle.models import (
    OPEN_WORK_ORDER_STATUSES,
    ChangeRecord,
    Recall,
    RoomTypeRule,
    TransitionLog,
    WorkOrder,
    WorkOrderKind,
)
from locations.freshness import status_annotation

# Why an asset may not be made available ------------------------------------------------------------


def asset_open_recall_work_orders(*, asset: Asset) -> QuerySet[WorkOrder]:
    return WorkOrder.objects.filter(
        asset=asset, kind=WorkOrderKind.RECALL, status__in=OPEN_WORK_ORDER_STATUSES
    ).select_related("recall")


def asset_availability_blockers(*, asset: Asset, today: date | None = None) -> list[str]:
    """Reasons the asset may not be "available" (docs/design.md §2); empty when it may."""

    reasons = asset_schedule_blockers(asset=asset, today=today)  # any overdue or failed schedule (biomed)
    for work_order in asset_open_recall_work_orders(asset=asset).order_by("id"):
        reasons.append(
            _("open recall work order %(work_order)s (recall %(recall)s)")
            % {"work_order": work_order.reference, "recall": work_order.recall.reference_number}
        )
    return reasons


# Lists for biomed and for alerts -------------------------------------------------------------------


def _in_service() -> QuerySet[Asset]:
    return Asset.objects.exclude(state=AssetState.DECOMMISSIONED)


def assets_pm_overdue(*, today: date) -> QuerySet[Asset]:
    """Assets in service with any maintenance schedule (PM, calibration, safety test...) due before ``today``
    or failed: lifecycle.biomed.selectors.assets_maintenance_overdue, the one rule. (The name is kept for the
    callers; it replaced the single PM interval.)"""

    return assets_maintenance_overdue(today=today)


def assets_with_open_recall() -> QuerySet[Asset]:
    open_recall = WorkOrder.objects.filter(kind=WorkOrderKind.RECALL, status__in=OPEN_WORK_ORDER_STATUSES)
    return _in_service().filter(pk__in=open_recall.values("asset_id"))


def assets_available_for_use(*, today: date) -> QuerySet[Asset]:
    """In state available and nothing that contradicts the definition (PM due, open recall)."""
    return (
        Asset.objects.filter(state=AssetState.AVAILABLE)
        .exclude(pk__in=assets_pm_overdue(today=today).values("pk"))
        .exclude(pk__in=assets_with_open_recall().values("pk"))
    )


# Recalls -------------------------------------------------------------------------------------------


def recall_matching_assets(*, recall: Recall) -> QuerySet[Asset]:
    """Assets of the recalled manufacturer and model (case-insensitive), and serial number unless "all"."""
    assets = Asset.objects.filter(manufacturer__iexact=recall.manufacturer.strip(), model__iexact=recall.model.strip())
    if not recall.affects_all:
        serials = {serial.strip().upper() for serial in recall.serial_numbers}
        assets = assets.annotate(serial_key=Upper(Trim("serial_number"))).filter(serial_key__in=serials)
    return assets


def recall_affected_assets(*, recall: Recall, now: datetime | None = None) -> QuerySet[Asset]:
    """The recalled assets still in service, with where they are now and their recall work order.

    Each row has ``current_room`` (and its floor and building), ``location_status`` (located, stale,
    missing), ``state``, and ``recall_work_order_id`` / ``recall_work_order_status``.
    """
    work_order = WorkOrder.objects.filter(asset=OuterRef("pk"), recall=recall)
    return (
        recall_matching_assets(recall=recall)
        .exclude(state=AssetState.DECOMMISSIONED)
        .select_related("asset_type", "current_room__floor__building")
        .annotate(
            location_status=status_annotation(now),
            recall_work_order_id=Subquery(work_order.values("pk")[:1]),
            recall_work_order_status=Subquery(work_order.values("status")[:1]),
        )
        .order_by("asset_tag")
    )


# Rules and history ---------------------------------------------------------------------------------


def room_type_rule_for(*, room_type: str, state: str) -> RoomTypeRule | None:
    """The active rule for entering a room of this type in this state, if any (rules never overlap)."""
    for rule in RoomTypeRule.objects.filter(room_type=room_type, active=True).order_by("id"):
        if isinstance(rule.from_states, list) and state in rule.from_states:
            return rule
    return None


def asset_transition_history(*, asset: Asset) -> QuerySet[TransitionLog]:
    return TransitionLog.objects.filter(asset=asset).select_related("user", "room").order_by("-at", "-id")


def object_change_history(*, instance) -> QuerySet[ChangeRecord]:
    return ChangeRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(instance), object_id=str(instance.pk)
    ).select_related("user")


# PM due soon (the API's filters) ------------------------------------------------------------------


def assets_pm_due_by(*, day: date) -> QuerySet[Asset]:
    """Assets in service whose next PM is due on or before ``day`` (overdue ones included): the same rule
    as assets_pm_overdue, whose cut-off is exclusive."""
    return assets_pm_overdue(today=day + timedelta(days=1))
