from __future__ import annotations

from rest_framework import serializers

from assets.models import AssetType
from lifecycle.webhooks.addresses import WebhookURLRefused, check_webhook_url
from lifecycle.webhooks.choices import DeliveryStatus, WebhookEvent
from lifecycle.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from locations.models import Building, Floor


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.URLField(
        max_length=500,
        help_text="https URL the deliveries are POSTed to; its host must resolve to public addresses only "
        "(or be listed in the server's WEBHOOK_ALLOWED_HOSTS).",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices), min_length=1, max_length=len(WebhookEvent.values)
    )

    asset_types = serializers.SlugRelatedField(
        many=True,
        slug_field="slug",
        queryset=AssetType.objects.all(),
        required=False,
        help_text="asset.moved only for these asset types (slugs); empty: all.",
    )
    buildings = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=Building.objects.all(),
        required=False,
        help_text="asset.moved only when the room entered is in these buildings (ids); empty: anywhere.",
    )
    floors = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=Floor.objects.all(),
        required=False,
        help_text="asset.moved only when the room entered is on these floors (ids); with buildings: either.",
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "events",
            "asset_types",
            "buildings",
            "floors",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        try:
            check_webhook_url(value)
        except WebhookURLRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value), key=WebhookEvent.values.index)


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Shown once, now: verify each delivery's X-Webhook-Signature with it."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "at", "status_code", "error", "duration_ms"]


class WebhookDeliverySerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempt_log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event",
            "event_id",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "created_at",
            "attempt_log",
        ]
