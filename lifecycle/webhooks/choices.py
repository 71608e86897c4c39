"""Webhook event types and delivery statuses, declared once."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class WebhookEvent(models.TextChoices):
    ASSET_STATE_CHANGED = "asset.state_changed", _("An asset's lifecycle state changed")
    ASSET_MOVED = "asset.moved", _("An asset entered another room (at most one per asset per throttle window)")
    REQUEST_CREATED = "equipment_request.created", _("An equipment request was created")
    REQUEST_ASSIGNED = "equipment_request.assigned", _("An asset was reserved for a request")
    REQUEST_DELIVERED = "equipment_request.delivered", _("A request's asset was delivered")
    REQUEST_CANCELLED = "equipment_request.cancelled", _("A request was cancelled")
    ALERT_RAISED = "alert.raised", _("An alert was raised")
    ALERT_ACKNOWLEDGED = "alert.acknowledged", _("An alert was acknowledged")
    ALERT_RESOLVED = "alert.resolved", _("An alert was resolved")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending (waiting for its next attempt)")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed (gave up after the last retry)")
