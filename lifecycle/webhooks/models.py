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
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from lifecycle.webhooks.addresses import WebhookURLRefused, check_webhook_url
from lifecycle.webhooks.choices import DeliveryStatus, WebhookEvent


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    name = models.CharField(max_length=200, verbose_name=gettext_lazy("name"))
    # Checked by clean() and again before every attempt: lifecycle/webhooks/addresses.py.
    url = models.URLField(
        max_length=500,
        help_text=gettext_lazy("Where deliveries are POSTed (http or https)."),
        verbose_name=gettext_lazy("url"),
    )
    secret = models.CharField(
        max_length=100,
        default=new_secret,
        help_text=gettext_lazy(
            "Shared secret: each delivery carries an HMAC-SHA256 of its timestamp and body with it."
        ),
        verbose_name=gettext_lazy("secret"),
    )
    events = models.JSONField(
        default=list,
        help_text=format_lazy(gettext_lazy("Event types, e.g. {examples}."), examples=WebhookEvent.values[:2]),
        verbose_name=gettext_lazy("events"),
    )
    active = models.BooleanField(default=True, verbose_name=gettext_lazy("active"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="webhook_subscriptions",
        help_text=gettext_lazy("Who manages it through the API; blank: managed in the admin only."),
        verbose_name=gettext_lazy("owner"),
    )
    # asset.moved filters (blank: every asset type, every place). Other events ignore them.
    asset_types = models.ManyToManyField(
        "assets.AssetType",
        blank=True,
        related_name="+",
        help_text=gettext_lazy("asset.moved: only these asset types."),
        verbose_name=gettext_lazy("asset types"),
    )
    buildings = models.ManyToManyField(
        "locations.Building",
        blank=True,
        related_name="+",
        help_text=gettext_lazy("asset.moved: only rooms entered in these."),
        verbose_name=gettext_lazy("buildings"),
    )
    floors = models.ManyToManyField(
        "locations.Floor",
        blank=True,
        related_name="+",
        help_text=gettext_lazy("asset.moved: only rooms entered on these."),
        verbose_name=gettext_lazy("floors"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=gettext_lazy("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=gettext_lazy("updated at"))

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

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, verbose_name=gettext_lazy("id"))
    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.CASCADE,
        related_name="deliveries",
        verbose_name=gettext_lazy("subscription"),
    )
    event = models.CharField(max_length=64, choices=WebhookEvent.choices, verbose_name=gettext_lazy("event"))
    event_id = models.UUIDField(
        help_text=gettext_lazy("The same for every subscription that got this event."),
        verbose_name=gettext_lazy("event id"),
    )
    body = models.TextField(
        help_text=gettext_lazy("The exact JSON body sent (and signed)."), verbose_name=gettext_lazy("body")
    )
    status = models.CharField(
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
        verbose_name=gettext_lazy("status"),
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("next attempt at"))
    last_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("last attempt at"))
    last_status_code = models.PositiveIntegerField(null=True, blank=True, verbose_name=gettext_lazy("last status code"))
    last_error = models.TextField(blank=True, verbose_name=gettext_lazy("last error"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("delivered at"))
    created_at = models.DateTimeField(verbose_name=gettext_lazy("created at"))

    class Meta:
        verbose_name = gettext_lazy("webhook delivery")
        verbose_name_plural = gettext_lazy("webhook deliveries")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhookdelivery_due")]

    def __str__(self):
        return f"{self.event} to {self.subscription.name} ({self.status})"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log", verbose_name=gettext_lazy("delivery")
    )
    number = models.PositiveIntegerField(verbose_name=gettext_lazy("number"))
    at = models.DateTimeField(verbose_name=gettext_lazy("at"))
    status_code = models.PositiveIntegerField(null=True, blank=True, verbose_name=gettext_lazy("status code"))
    error = models.TextField(blank=True, verbose_name=gettext_lazy("error"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("duration ms"))
    response_excerpt = models.TextField(blank=True, verbose_name=gettext_lazy("response excerpt"))

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

    asset = models.OneToOneField(
        "assets.Asset", on_delete=models.CASCADE, primary_key=True, related_name="+", verbose_name=gettext_lazy("asset")
    )
    last_emitted_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("last emitted at"))
    pending = models.BooleanField(default=False, verbose_name=gettext_lazy("pending"))
    from_room = models.ForeignKey(
        "locations.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("from room"),
    )
    to_room = models.ForeignKey(
        "locations.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=gettext_lazy("to room"),
    )
    entered_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("entered at"))
    confidence = models.FloatField(null=True, blank=True, verbose_name=gettext_lazy("confidence"))
    merged = models.PositiveIntegerField(
        default=0,
        help_text=gettext_lazy("Room changes merged into the pending event."),
        verbose_name=gettext_lazy("merged"),
    )
    due_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("due at"))

    class Meta:
        indexes = [models.Index(fields=["pending", "due_at"], name="assetmovethrottle_due")]

    def __str__(self):
        return f"asset.moved throttle of asset {self.asset_id}"
