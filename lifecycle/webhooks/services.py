"""Webhook deliveries: record them with the change (outbox), send them after commit, retry with backoff.

- ``webhook_event_emit`` is called inside the transaction of the change it reports. It writes one
  WebhookDelivery per matching active subscription and, after commit only, starts a thread that makes
  the first attempt (WEBHOOK_DELIVERY="on_commit", the default), so a rolled-back change sends nothing
  and no request waits for a subscriber.
- ``webhook_deliver_due`` (``manage.py deliver_webhooks``) sends whatever is due: first attempts the
  thread did not make (process restarted, WEBHOOK_DELIVERY="worker") and retries.
- A delivery is claimed before it is sent (row lock, skip locked, then a lease on next_attempt_at), so
  two workers never send the same attempt. Sending happens outside any transaction.
- Retries: WEBHOOK_RETRY_BASE_SECONDS x 2^(attempt-1), at most WEBHOOK_RETRY_MAX_SECONDS, until
  WEBHOOK_MAX_ATTEMPTS; then the delivery is failed (the admin can retry it).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from config.security_events import security_event
from lifecycle.webhooks.addresses import WebhookURLRefused, check_webhook_url, pinned_connection
from lifecycle.webhooks.choices import DeliveryStatus, WebhookEvent
from lifecycle.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from lifecycle.webhooks.signing import SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

USER_AGENT = "hospital-assets-webhooks/1"
RESPONSE_EXCERPT_CHARS = 500


def _setting(name: str, default):
    return getattr(settings, name, default)


def webhook_backoff_seconds(attempt: int) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): 30, 60, 120, ... capped."""
    base = int(_setting("WEBHOOK_RETRY_BASE_SECONDS", 30))
    cap = int(_setting("WEBHOOK_RETRY_MAX_SECONDS", 3600))
    return min(cap, base * 2 ** max(0, attempt - 1))


def subscriptions_for(event: str) -> list[WebhookSubscription]:
    # A handful of rows: filtered here, so the same code works on SQLite (no JSON containment there).
    return [s for s in WebhookSubscription.objects.filter(active=True).order_by("pk") if event in (s.events or [])]


def webhook_event_emit(
    *, event: str, data: dict, at: datetime | None = None, subscriptions: list | None = None
) -> list[WebhookDelivery]:
    """Record ``event`` for every active subscription to it (or for ``subscriptions``, already chosen and
    filtered by the caller); sent once the current transaction commits."""
    if event not in WebhookEvent.values:
        raise ValueError(f"unknown webhook event {event!r}; valid: {', '.join(WebhookEvent.values)}")
    subscriptions = subscriptions_for(event) if subscriptions is None else subscriptions
    if not subscriptions:
        return []
    at = at or timezone.now()
    event_id = uuid.uuid4()
    body = json.dumps(
        {"id": str(event_id), "event": event, "created_at": at.isoformat(), "data": data},
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                subscription=subscription,
                event=event,
                event_id=event_id,
                body=body,
                next_attempt_at=at,
                created_at=at,
            )
            for subscription in subscriptions
        ]
    )
    if _setting("WEBHOOK_DELIVERY", "on_commit") == "on_commit":
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: start_delivery_thread(ids))
    return deliveries


def start_delivery_thread(ids: list) -> threading.Thread:
    """First attempts in the background: the request that caused the event never waits for a subscriber."""
    thread = threading.Thread(target=_deliver_in_thread, args=(list(ids),), name="webhook-delivery", daemon=True)
    thread.start()
    return thread


def _deliver_in_thread(ids: list) -> None:
    try:
        webhook_deliver_due(ids=ids)
    except Exception:  # the worker retries whatever this thread could not send
        logger.exception("webhooks: background delivery failed")
    finally:
        connection.close()  # this thread's own connection


def webhook_deliveries_claim(*, now: datetime | None = None, ids: list | None = None, limit: int = 100) -> list:
    """Take due pending deliveries for this process: lock them (skipping rows another worker holds) and
    push their next_attempt_at past the send timeout, so nobody else picks them meanwhile."""
    now = now or timezone.now()
    lease = timedelta(seconds=int(_setting("WEBHOOK_TIMEOUT_SECONDS", 5)) * 2 + 30)
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        if ids is not None:
            due = due.filter(pk__in=ids)
        skip_locked = connection.features.has_select_for_update_skip_locked
        claimed = list(
            due.select_for_update(skip_locked=skip_locked)
            .order_by("next_attempt_at", "created_at")
            .values_list("pk", flat=True)[:limit]
        )
        if claimed:
            WebhookDelivery.objects.filter(pk__in=claimed).update(next_attempt_at=now + lease)
    return claimed


@dataclass
class SendResult:
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _send(delivery: WebhookDelivery, *, attempt: int) -> SendResult:
    """POST the delivery to the address its URL resolves to NOW, checked again (no SSRF, no DNS rebinding:
    the connection goes to the checked address; lifecycle.webhooks.addresses). Redirects are not followed:
    the signed body goes only to the URL the subscriber registered."""
    body = delivery.body.encode("utf-8")
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Webhook-Id": str(delivery.pk),
        "X-Webhook-Event": delivery.event,
        "X-Webhook-Event-Id": str(delivery.event_id),
        "X-Webhook-Attempt": str(attempt),
        SIGNATURE_HEADER: sign(secret=delivery.subscription.secret, body=body, timestamp=timestamp),
    }
    result = SendResult()
    started = time.monotonic()
    try:
        checked = check_webhook_url(delivery.subscription.url)
    except WebhookURLRefused as exc:
        result.error = f"not sent: {exc}"
        security_event("webhook.refused_address", subscription=delivery.subscription_id, reason=str(exc))
        return result
    timeout = int(_setting("WEBHOOK_TIMEOUT_SECONDS", 5))
    for index, address in enumerate(checked.addresses):
        connection_ = pinned_connection(checked, address, timeout=timeout)
        try:
            connection_.request("POST", checked.path, body=body, headers=headers)
            response = connection_.getresponse()
            result.status_code = response.status
            result.excerpt = response.read(RESPONSE_EXCERPT_CHARS).decode("utf-8", "replace")
            result.error = "" if result.ok else f"HTTP {response.status}"
            break
        except (OSError, http.client.HTTPException, ValueError) as exc:
            result.error = f"{exc.__class__.__name__}: {exc}"
            if index + 1 < len(checked.addresses) and isinstance(exc, ConnectionError | socket.timeout):
                continue  # the next checked address of the same host
            break
        finally:
            connection_.close()
    result.duration_ms = int((time.monotonic() - started) * 1000)
    return result


def webhook_delivery_attempt(*, delivery_id) -> WebhookDelivery:
    """Send one claimed delivery now and record the attempt; schedules the retry or gives up."""
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.PENDING:
        return delivery
    number = delivery.attempts + 1
    result = _send(delivery, attempt=number)  # outside any transaction
    now = timezone.now()
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        WebhookAttempt.objects.create(
            delivery=locked,
            number=number,
            at=now,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
            response_excerpt=result.excerpt,
        )
        locked.attempts = number
        locked.last_attempt_at = now
        locked.last_status_code = result.status_code
        locked.last_error = result.error
        if result.ok:
            locked.status = DeliveryStatus.SUCCEEDED
            locked.delivered_at = now
            locked.next_attempt_at = None
        elif number >= int(_setting("WEBHOOK_MAX_ATTEMPTS", 8)):
            locked.status = DeliveryStatus.FAILED
            locked.next_attempt_at = None
        else:
            locked.next_attempt_at = now + timedelta(seconds=webhook_backoff_seconds(number))
        locked.save()
    if not result.ok:
        logger.warning(
            "webhook %s to %s: attempt %d failed (%s)", delivery.event, delivery.subscription.url, number, result.error
        )
    return locked


@dataclass
class DeliveryReport:
    succeeded: list = field(default_factory=list)
    retrying: list = field(default_factory=list)
    failed: list = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return len(self.succeeded) + len(self.retrying) + len(self.failed)


def webhook_deliver_due(*, now: datetime | None = None, ids: list | None = None, limit: int = 100) -> DeliveryReport:
    """Claim and send the due deliveries (or only ``ids``); one attempt each."""
    report = DeliveryReport()
    for delivery_id in webhook_deliveries_claim(now=now, ids=ids, limit=limit):
        delivery = webhook_delivery_attempt(delivery_id=delivery_id)
        {
            DeliveryStatus.SUCCEEDED: report.succeeded,
            DeliveryStatus.PENDING: report.retrying,
            DeliveryStatus.FAILED: report.failed,
        }[DeliveryStatus(delivery.status)].append(delivery)
    return report


@transaction.atomic
def webhook_delivery_retry_now(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Make a failed (or waiting) delivery due now, with its attempts counted afresh up to the maximum."""
    locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if locked.status == DeliveryStatus.SUCCEEDED:
        return locked
    locked.status = DeliveryStatus.PENDING
    locked.next_attempt_at = timezone.now()
    if locked.attempts >= int(_setting("WEBHOOK_MAX_ATTEMPTS", 8)):
        locked.attempts = 0
    locked.save(update_fields=["status", "next_attempt_at", "attempts"])
    return locked
