"""asset.moved: one event per asset per WEBHOOK_ASSET_MOVED_THROTTLE_SECONDS, the latest room winning.

``enqueue_asset_moved(changes)`` is called with the room changes the location pipeline committed (today from
the room-change signal receiver, lifecycle/webhooks/apps.py). Per asset, under a row lock on its
AssetMoveThrottle row:

- no event emitted within the window: emit one now (from the room it left, to the room it entered);
- otherwise merge into the pending row: ``from_room`` stays the room the last event left it in, ``to_room``
  becomes the newest room, and the row is due when the window ends.

``asset_moves_flush_due()`` (the deliver_webhooks worker, every pass) emits the due merged moves, so a
subscriber receives the asset's final room at most one window after it got there. A merged move that ends
where the last event left the asset (A -> B -> A) is dropped: the subscriber already has A.

Everything is in the database (the throttle rows, then WebhookDelivery rows): a restarted worker finds
every pending move and every unsent delivery. Deliveries are signed and retried like every other event.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from assets.models import Asset
from lifecycle.webhooks.choices import WebhookEvent
from lifecycle.webhooks.models import AssetMoveThrottle, WebhookSubscription
from lifecycle.webhooks.services import webhook_event_emit
from locations.models import Room

logger = logging.getLogger(__name__)


def throttle_seconds() -> int:
    return int(getattr(settings, "WEBHOOK_ASSET_MOVED_THROTTLE_SECONDS", 30))


def _room(room) -> dict | None:
    if room is None:
        return None
    floor = room.floor
    building = floor.building
    return {
        "id": room.pk,
        "code": room.code,
        "name": room.name,
        "unit": room.unit,
        "floor": {"id": floor.pk, "code": floor.code, "name": floor.name},
        "building": {"id": building.pk, "code": building.code, "name": building.name},
        "fhir": {"reference": f"Location/room-{room.pk}"},
    }


def asset_moved_payload(*, asset, from_room, to_room, entered_at, confidence, merged: int) -> dict:
    asset_type = asset.asset_type
    return {
        "asset": {
            "id": asset.pk,
            "asset_tag": asset.asset_tag,
            "asset_type": {
                "id": asset_type.pk,
                "slug": asset_type.slug,
                "name": asset_type.name,
                "code_system": asset_type.code_system or None,
                "code": asset_type.code or None,
            },
            "fhir": {"reference": f"Device/{asset.pk}"},
        },
        "from_room": _room(from_room),
        "to_room": _room(to_room),
        "entered_at": entered_at.isoformat() if entered_at else None,
        "confidence": confidence,
        "merged_moves": merged,
    }


def subscriber_matches(subscription: WebhookSubscription, *, asset_type_id: int, room) -> bool:
    """The subscription's filters: asset types, and the building or floor of the room entered."""
    types = {t.pk for t in subscription.asset_types.all()}
    if types and asset_type_id not in types:
        return False
    buildings = {b.pk for b in subscription.buildings.all()}
    floors = {f.pk for f in subscription.floors.all()}
    if not (buildings or floors):
        return True
    return room is not None and (room.floor_id in floors or room.floor.building_id in buildings)


def _subscriptions() -> list[WebhookSubscription]:
    return [
        s
        for s in WebhookSubscription.objects.filter(active=True)
        .prefetch_related("asset_types", "buildings", "floors")
        .order_by("pk")
        if WebhookEvent.ASSET_MOVED in (s.events or [])
    ]


def _emit(throttle: AssetMoveThrottle, *, from_room, to_room, entered_at, confidence, merged, subscriptions) -> int:
    asset = Asset.objects.select_related("asset_type").get(pk=throttle.asset_id)
    matching = [s for s in subscriptions if subscriber_matches(s, asset_type_id=asset.asset_type_id, room=to_room)]
    if not matching:
        return 0
    data = asset_moved_payload(
        asset=asset, from_room=from_room, to_room=to_room, entered_at=entered_at, confidence=confidence, merged=merged
    )
    return len(webhook_event_emit(event=WebhookEvent.ASSET_MOVED, data=data, subscriptions=matching))


def _rooms(ids) -> dict:
    return Room.objects.select_related("floor__building").in_bulk([i for i in ids if i is not None])


def enqueue_asset_moved(changes, *, now: datetime | None = None) -> int:
    """Room changes committed by the location pipeline (locations.signals.RoomChange) -> asset.moved.

    Returns how many deliveries were written now (merged moves are written later, when due).
    """
    subscriptions = _subscriptions()
    if not subscriptions or not changes:
        return 0

    now = now or timezone.now()
    window = timedelta(seconds=throttle_seconds())
    latest: dict[int, list] = {}
    for change in sorted(changes, key=lambda c: c.at):  # one batch may move an asset twice: merge in order
        first_from = latest[change.asset_id][0] if change.asset_id in latest else change.from_room_id
        merged = latest[change.asset_id][3] + 1 if change.asset_id in latest else 1
        latest[change.asset_id] = [first_from, change.to_room_id, change.at, merged]
    rooms = _rooms([r for row in latest.values() for r in row[:2]])
    confidence = dict(Asset.objects.filter(pk__in=latest).values_list("pk", "location_confidence"))
    written = 0
    for asset_id, (from_id, to_id, entered_at, merged) in sorted(latest.items()):
        with transaction.atomic():
            AssetMoveThrottle.objects.get_or_create(asset_id=asset_id)
            throttle = AssetMoveThrottle.objects.select_for_update().get(asset_id=asset_id)
            if throttle.pending:
                throttle.to_room_id, throttle.entered_at = to_id, entered_at
                throttle.confidence = confidence.get(asset_id)
                throttle.merged += merged
                throttle.save(update_fields=["to_room", "entered_at", "confidence", "merged"])
            elif throttle.last_emitted_at is None or now - throttle.last_emitted_at >= window:
                written += _emit(
                    throttle,
                    from_room=rooms.get(from_id),
                    to_room=rooms.get(to_id),
                    entered_at=entered_at,
                    confidence=confidence.get(asset_id),
                    merged=merged,
                    subscriptions=subscriptions,
                )
                throttle.last_emitted_at = now
                throttle.save(update_fields=["last_emitted_at"])
            else:
                throttle.pending = True
                throttle.from_room_id, throttle.to_room_id, throttle.entered_at = from_id, to_id, entered_at
                throttle.confidence = confidence.get(asset_id)
                throttle.merged = merged
                throttle.due_at = throttle.last_emitted_at + window
                throttle.save()
                _flush_later(throttle.due_at)
    return written


def _flush_later(due_at: datetime) -> None:
    """WEBHOOK_DELIVERY=on_commit (no worker needed for a small site): flush when the window ends, from a
    timer in this process. The row stays the truth: if this process dies first, the worker flushes it."""
    if getattr(settings, "WEBHOOK_DELIVERY", "on_commit") != "on_commit":
        return
    delay = max(0.0, (due_at - timezone.now()).total_seconds()) + 0.05

    def start():
        timer = threading.Timer(delay, _flush_in_thread)
        timer.daemon = True
        timer.start()

    transaction.on_commit(start)


def _flush_in_thread() -> None:
    try:
        asset_moves_flush_due()
    except Exception:  # the worker flushes whatever this timer could not
        logger.exception("webhooks: flushing merged asset.moved events failed")
    finally:
        connection.close()


def asset_moves_flush_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Emit the merged moves whose window has ended. Returns how many events were emitted."""
    now = now or timezone.now()
    subscriptions = None
    emitted = 0
    with transaction.atomic():
        due = list(
            AssetMoveThrottle.objects.filter(pending=True, due_at__lte=now)
            .select_for_update(skip_locked=connection.features.has_select_for_update_skip_locked)
            .order_by("due_at")[:limit]
        )
        if not due:
            return 0
        subscriptions = _subscriptions()
        rooms = _rooms([r for t in due for r in (t.from_room_id, t.to_room_id)])
        for throttle in due:
            if throttle.to_room_id != throttle.from_room_id and subscriptions:
                _emit(
                    throttle,
                    from_room=rooms.get(throttle.from_room_id),
                    to_room=rooms.get(throttle.to_room_id),
                    entered_at=throttle.entered_at,
                    confidence=throttle.confidence,
                    merged=throttle.merged,
                    subscriptions=subscriptions,
                )
                emitted += 1
                throttle.last_emitted_at = now  # a dropped A -> B -> A move starts no new window
            throttle.pending = False
            throttle.due_at = None
            throttle.merged = 0
            throttle.save(update_fields=["pending", "last_emitted_at", "due_at", "merged"])
    return emitted


def asset_moves_next_due() -> datetime | None:
    """When the next merged move falls due (the worker sleeps no longer than that)."""
    return AssetMoveThrottle.objects.filter(pending=True).order_by("due_at").values_list("due_at", flat=True).first()
