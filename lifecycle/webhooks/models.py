"""Webhooks: subscriptions, and the delivery log (one row per event and subscription, one per attempt).

Deliveries are written in the same transaction as the change they report (an outbox), and sent only
after it commits: by a thread started from ``transaction.on_commit`` and by ``manage.py deliver_webhooks``,
which also retries failures with exponential backoff. A rolled-back change never produces a delivery.
"""

import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifecycle.webhooks.addresses import WebhookURLRefused, check_webhook_url
from lifecycle.webhooks.choices import DeliveryStatus, WebhookEvent


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    name = models.CharField(max_length=200)
    # Checked by clean() and again before every attempt: lifecycle/webhooks/addresses.py.
    url = models.URLField(max_length=500, help_text="Where deliveries are POSTed (http or https).")
    secret = models.CharField(
        max_length=100,
        default=new_secret,
        help_text="Shared secret: each delivery carries an HMAC-SHA256 of its timestamp and body with it.",
    )
    events = models.JSONField(default=list, help_text=f"Event types, e.g. {WebhookEvent.values[:2]}.")
    active = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        help_text="Who manages it through the API; blank: managed in the admin only.",
    )
    # asset.moved filters (blank: every asset type, every place). Other events ignore them.
    asset_types = models.ManyToManyField(
        "assets.AssetType", blank=True, related_name="+", help_text="asset.moved: only these asset types."
    )
    buildings = models.ManyToManyField(
        "locations.Building", blank=True, related_name="+", help_text="asset.moved: only rooms entered in these."
    )
    floors = models.ManyToManyField(
        "locations.Floor", blank=True, related_name="+", help_text="asset.moved: only rooms entered on these."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("webhook subscription")
        verbose_name_plural = gettext_lazy("webhook subscriptions")
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} → {self.url}"

    def clean(self):
        if self.url:
            try:
                check_webhook_url(self.url)
            except WebhookURLRefused as exc:
                raise ValidationError({"url": str(exc)}) from None
        if not isinstance(self.events, list) or not self.events:
            raise ValidationError(
                {
                    "events": _("list at least one event type; valid: %(valid)s")
                    % {"valid": ", ".join(WebhookEvent.values)}
                }
            )
        unknown = [e for e in self.events if e not in WebhookEvent.values]
        if unknown:
            raise ValidationError(
                {
                    "events": _("unknown event type(s) %(unknown)s; valid: %(valid)s")
                    % {"unknown": unknown, "valid": ", ".join(WebhookEvent.values)}
                }
            )


class WebhookDelivery(models.Model):
    """One event for one subscription; its attempts are the delivery log."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64, choices=WebhookEvent.choices)
    event_id = models.UUIDField(help_text="The same for every subscription that got this event.")
    body = models.TextField(help_text="The exact JSON body sent (and signed).")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = gettext_lazy("webhook delivery")
        verbose_name_plural = gettext_lazy("webhook deliveries")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due")]

    def __str__(self):
        return f"{self.event} to {self.subscription.name} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self):
        outcome = self.status_code or self.error[:40]
        return f"attempt {self.number}: {outcome}"


class AssetMoveThrottle(models.Model):
    """asset.moved, per asset: when the last event was emitted, and the merged move not sent yet.

    A row, not memory: a worker restart loses nothing (lifecycle/webhooks/moves.py). ``from_room`` is the
    room the last emitted event left the asset in; ``to_room`` the latest room since (latest wins).
    """

    asset = models.OneToOneField("assets.Asset", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_emitted_at = models.DateTimeField(null=True, blank=True)
    pending = models.BooleanField(default=False)
    from_room = models.ForeignKey("locations.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    to_room = models.ForeignKey("locations.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    entered_at = models.DateTimeField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    merged = models.PositiveIntegerField(default=0, help_text="Room changes merged into the pending event.")
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["pending", "due_at"], name="assetmovethrottle_due")]

    def __str__(self):
        return f"asset.moved throttle of asset {self.asset_id}"
