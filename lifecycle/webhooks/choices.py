"""Webhook event types and delivery statuses, declared once."""

from django.db import models


class WebhookEvent(models.TextChoices):
    ASSET_STATE_CHANGED = "asset.state_changed", "An asset's lifecycle state changed"
    ASSET_MOVED = "asset.moved", "An asset entered another room (at most one per asset per throttle window)"
    REQUEST_CREATED = "equipment_request.created", "An equipment request was created"
    REQUEST_ASSIGNED = "equipment_request.assigned", "An asset was reserved for a request"
    REQUEST_DELIVERED = "equipment_request.delivered", "A request's asset was delivered"
    REQUEST_CANCELLED = "equipment_request.cancelled", "A request was cancelled"
    ALERT_RAISED = "alert.raised", "An alert was raised"
    ALERT_ACKNOWLEDGED = "alert.acknowledged", "An alert was acknowledged"
    ALERT_RESOLVED = "alert.resolved", "An alert was resolved"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (waiting for its next attempt)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (gave up after the last retry)"
