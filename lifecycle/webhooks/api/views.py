"""Webhook subscriptions for dispatch and IT systems: each user manages their own; deliveries are visible
with every attempt (the same log the admin shows)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.response import Response

from lifecycle.api.permissions import MayManageWebhooks
from lifecycle.webhooks.api.serializers import (
    WebhookDeliverySerializer,
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionSerializer,
)
from lifecycle.webhooks.models import WebhookDelivery, WebhookSubscription

ID = r"[0-9]{1,18}"


class WebhookSubscriptionViewSet(viewsets.ModelViewSet):
    serializer_class = WebhookSubscriptionSerializer
    permission_classes = [MayManageWebhooks]
    lookup_value_regex = ID
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookSubscription.objects.none()
        return WebhookSubscription.objects.filter(owner=self.request.user).order_by("name", "id")

    @extend_schema(request=WebhookSubscriptionSerializer, responses={201: WebhookSubscriptionCreatedSerializer})
    def create(self, request, *args, **kwargs):
        body = WebhookSubscriptionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = body.save(owner=request.user)
        return Response(WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)


class WebhookDeliveryViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = WebhookDeliverySerializer
    permission_classes = [MayManageWebhooks]
    filterset_fields = ["subscription", "event", "status"]
    lookup_value_regex = r"[0-9a-fA-F-]{36}"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        return (
            WebhookDelivery.objects.filter(subscription__owner=self.request.user)
            .prefetch_related("attempt_log")
            .order_by("-created_at")
        )
