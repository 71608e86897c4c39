"""The consumer of the location outbox (locations.outbox): room-type rules, alerts and webhooks, off
the location pipeline's hot path.

Each ``LocationOutbox`` row is applied in the transaction that also marks it processed (up to
``BATCH_ROWS`` rows share one): the rules
(``apply_room_changes``), the location alerts (``alerts_room_changes``, ``alerts_tag_reports``), the
``asset.moved`` events (``enqueue_asset_moved``, throttled per asset) and the webhook deliveries they
emit (``webhook_event_emit`` writes them in the same transaction) are committed
together with ``processed_at``, or not at all. So a row is applied exactly once whatever dies in between
(the consumer, the database), and its webhook deliveries exist exactly once, each with a stable id
(``X-Webhook-Id``) that every retry repeats: delivery is at least once, and a receiver can de-duplicate.

These are the same functions the signal receivers (lifecycle.receivers, lifecycle.alerts.handlers) call
for ``room_changes_committed`` / ``tags_reported``; the pipeline no longer sends those signals itself.

A row whose application raises is rolled back, counted (``attempts``, ``last_error``) and retried on the
next pass; rows are applied in id order, so a failing row holds the later ones back until it has failed
``MAX_ATTEMPTS`` times, then it is left for an operator (logged at ERROR) and the rest go on.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from lifecycle.alerts import services as alert_services
from lifecycle.services import apply_room_changes
from lifecycle.webhooks.moves import enqueue_asset_moved
from locations.models import LocationOutbox
from locations.signals import RoomChange, TagReport

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Rows applied (and committed) together by one transaction of the consumer.
BATCH_ROWS = 50
# Processed rows are kept this long (to inspect what was applied), then deleted by the consumer.
RETAIN = timedelta(days=1)
TRIM_EVERY_S = 600.0
_trimmed_at = -TRIM_EVERY_S


def _changes(row: LocationOutbox) -> list[RoomChange]:
    return [
        RoomChange(asset_id=a, from_room_id=f, to_room_id=t, at=datetime.fromisoformat(at))
        for a, f, t, at in row.room_changes
    ]


def _reports(row: LocationOutbox) -> list[TagReport]:
    return [
        TagReport(tag_id=tag, asset_id=asset, battery_percent=battery, at=datetime.fromisoformat(at))
        for tag, asset, battery, at in row.tag_reports
    ]


def location_outbox_apply(row: LocationOutbox) -> None:
    """What one pipeline commit changed -> rules, alerts (and the webhooks they emit)."""
    changes = _changes(row)
    if changes:
        apply_room_changes(changes=changes)
        alert_services.alerts_room_changes(changes=changes)
        enqueue_asset_moved(changes)
    reports = _reports(row)
    if reports:
        alert_services.alerts_tag_reports(reports=reports)


def location_outbox_drain(*, limit: int = 1000, batch: int = BATCH_ROWS) -> int:
    """Apply up to ``limit`` pending rows, oldest first. Returns how many.

    Up to ``batch`` rows at a time in ONE transaction: locked (FOR UPDATE) in one query, applied in id order,
    marked processed in one statement, committed together; so each row is still applied exactly once with
    its effects (a kill leaves a batch done or untouched). If any row of a batch raises, the whole batch is
    rolled back and its rows are applied again one per transaction, so the failing row is counted
    (``attempts``, ``last_error``) and holds the later ones back, as before.

    Two consumers at once are safe: the second waits on the first one's locked rows, then skips those it
    finds processed. Rows are applied in id order.
    """
    applied = 0
    while applied < limit:
        done = _apply_batch(min(batch, limit - applied)) if batch > 1 else None
        if done is None:  # a row of the batch failed (rolled back): one row per transaction finds it
            done, failed = _apply_one_by_one(min(max(batch, 1), limit - applied))
            applied += done
            if failed or not done:
                break
            continue
        if not done:
            break
        applied += done
    global _trimmed_at
    if applied and time.monotonic() - _trimmed_at >= TRIM_EVERY_S:
        _trimmed_at = time.monotonic()
        LocationOutbox.objects.filter(created_at__lt=timezone.now() - RETAIN, processed_at__isnull=False).delete()
    return applied


class _BatchFailed(Exception):
    pass


def _pending():
    return (
        LocationOutbox.objects.select_for_update()
        .filter(processed_at__isnull=True, attempts__lt=MAX_ATTEMPTS)
        .order_by("pk")
    )


def _apply_batch(size: int) -> int | None:
    """Apply the next ``size`` pending rows in one transaction. None: one of them raised (all rolled back)."""
    try:
        with transaction.atomic():
            rows = list(_pending()[:size])
            if not rows:
                return 0
            try:
                for row in rows:
                    location_outbox_apply(row)
            except Exception as exc:
                raise _BatchFailed from exc
            LocationOutbox.objects.filter(pk__in=[row.pk for row in rows]).update(
                attempts=F("attempts") + 1, processed_at=timezone.now()
            )
    except _BatchFailed:
        return None
    return len(rows)


def _apply_one_by_one(limit: int) -> tuple[int, bool]:
    """Up to ``limit`` rows, each in its own transaction. Returns (applied, whether a row failed)."""
    applied = 0
    while applied < limit:
        with transaction.atomic():
            row = _pending().first()
            if row is None:
                break
            try:
                with transaction.atomic():
                    location_outbox_apply(row)
            except Exception as exc:  # rolled back to the savepoint: count it, retry on the next pass
                row.attempts += 1
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                row.save(update_fields=["attempts", "last_error"])
                log = logger.error if row.attempts >= MAX_ATTEMPTS else logger.warning
                log("location outbox row %s failed (attempt %d): %s", row.pk, row.attempts, exc, exc_info=True)
                return applied, True
            row.attempts += 1
            row.processed_at = timezone.now()
            row.save(update_fields=["attempts", "processed_at"])
        applied += 1
    return applied, False


def location_outbox_pending() -> int:
    return LocationOutbox.objects.filter(processed_at__isnull=True).count()
