"""Turn other apps' records into webhook events, inside the transaction that wrote them (an outbox)."""

from __future__ import annotations

from lifecycle.alerts.choices import AlertStatus
from lifecycle.webhooks.choices import WebhookEvent
from lifecycle.webhooks.payloads import alert_payload, transition_payload
from lifecycle.webhooks.services import subscriptions_for, webhook_event_emit


def on_transition_logged(sender, instance, created, **kwargs):
    if created and not kwargs.get("raw") and subscriptions_for(WebhookEvent.ASSET_STATE_CHANGED):
        webhook_event_emit(event=WebhookEvent.ASSET_STATE_CHANGED, data=transition_payload(instance), at=instance.at)


ALERT_EVENTS = {
    AlertStatus.NEW: WebhookEvent.ALERT_RAISED,
    AlertStatus.ACKNOWLEDGED: WebhookEvent.ALERT_ACKNOWLEDGED,
    AlertStatus.RESOLVED: WebhookEvent.ALERT_RESOLVED,
}


def on_alert_saved(sender, instance, created, update_fields=None, **kwargs):
    if kwargs.get("raw"):
        return
    if not created and (update_fields is None or "status" not in update_fields):
        return  # not a status change
    event = ALERT_EVENTS.get(instance.status)
    if event and subscriptions_for(event):
        webhook_event_emit(event=event, data=alert_payload(instance))


def on_alerts_auto_resolved(sender, alerts, **kwargs):
    if not subscriptions_for(WebhookEvent.ALERT_RESOLVED):
        return
    for alert in alerts:
        webhook_event_emit(event=WebhookEvent.ALERT_RESOLVED, data=alert_payload(alert))


def on_room_changes_committed(sender, changes, **kwargs):
    """The location pipeline committed room changes: asset.moved, throttled per asset."""
    from lifecycle.webhooks.moves import enqueue_asset_moved

    enqueue_asset_moved(changes)
