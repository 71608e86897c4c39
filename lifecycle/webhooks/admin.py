"""Webhook subscriptions, and the delivery log: every delivery and every attempt, read-only."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from lifecycle.webhooks.choices import WebhookEvent
from lifecycle.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from lifecycle.webhooks.services import webhook_delivery_retry_now


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "asset_types", "buildings", "floors", "active", "owner", "secret"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["name", "url", "active", "event_list", "owner", "created_at"]
    list_filter = ["active"]
    search_fields = ["name", "url"]
    raw_id_fields = ["owner"]
    filter_horizontal = ["asset_types", "buildings", "floors"]

    @admin.display(description=_("events"))
    def event_list(self, obj):
        return ", ".join(obj.events or [])

    def has_add_permission(self, request):
        # Subscriptions are created through the API only (POST /api/v1/webhooks/subscriptions/): one
        # validation of the URL, the owner is the caller, the secret is shown once. The admin does not
        # offer it, to anyone (declarations/policy.py WEBHOOK_MANAGE; tests/security/test_parity.py).
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "at", "status_code", "error", "duration_ms", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "subscription", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status", "event", "subscription"]
    list_select_related = ["subscription"]
    search_fields = ["event_id", "body", "last_error"]
    date_hierarchy = "created_at"
    readonly_fields = [
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
        "body",
    ]
    fields = readonly_fields
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Retry the selected deliveries now"), permissions=["change"])
    def retry_now(self, request, queryset):
        for delivery in queryset:
            webhook_delivery_retry_now(delivery=delivery)
        self.message_user(
            request,
            _("%(count)s delivery(ies) are due now; the deliver_webhooks worker sends them.")
            % {"count": queryset.count()},
            messages.SUCCESS,
        )
