from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db.models import F
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from lifecycle.admin_mixins import NulSafeChangelist
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.alerts.selectors import par_levels_with_counts
from lifecycle.alerts.services import AlertError, alert_acknowledge, alert_resolve


class ParStatusFilter(admin.SimpleListFilter):
    title = _("stock")
    parameter_name = "stock"

    def lookups(self, request, model_admin):
        return [("critical", "Below critical"), ("below_target", "Below target"), ("ok", "At or above target")]

    def queryset(self, request, queryset):
        if self.value() == "critical":
            return queryset.filter(available_count__lt=F("critical"))
        if self.value() == "below_target":
            return queryset.filter(available_count__lt=F("target"))
        if self.value() == "ok":
            return queryset.filter(available_count__gte=F("target"))
        return queryset


class OpenAlertFilter(admin.SimpleListFilter):
    title = _("open")
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("yes", "Open (new or acknowledged)"), ("no", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.open()
        if self.value() == "no":
            return queryset.exclude(pk__in=Alert.objects.open().values("pk"))
        return queryset


@admin.register(ParLevel)
class ParLevelAdmin(NulSafeChangelist, admin.ModelAdmin):
    list_display = ["unit", "asset_type", "available_now", "critical", "target", "stock", "on_hand_link"]
    list_filter = [ParStatusFilter, "unit", "asset_type"]
    search_fields = ["unit", "asset_type__name"]
    readonly_fields = ["available_now", "created_at", "updated_at"]
    fields = ["unit", "asset_type", "target", "critical", "available_now", "created_at", "updated_at"]

    def get_queryset(self, request):
        # The live count for every row comes from one query (a correlated subquery), not one per row.
        return par_levels_with_counts()

    @admin.display(description=_("Available now (located)"), ordering="available_count")
    def available_now(self, obj):
        return getattr(obj, "available_count", "-")

    @admin.display(description=_("Which"))
    def on_hand_link(self, obj):
        # The same assets on the asset list: available, located, of this type, in a room of this unit.
        query = urlencode(
            {
                "state__exact": "available",
                "location": "located",
                "asset_type__id__exact": obj.asset_type_id,
                "room_unit": obj.unit,
            }
        )
        return format_html('<a href="{}?{}">show them</a>', reverse("admin:assets_asset_changelist"), query)

    @admin.display(description=_("Stock"))
    def stock(self, obj):
        count = getattr(obj, "available_count", None)
        if count is None:
            return "-"
        if count < obj.critical:
            return "Below critical"
        if count < obj.target:
            return "Below target"
        return "OK"


@admin.register(Alert)
class AlertAdmin(NulSafeChangelist, admin.ModelAdmin):
    list_display = ["id", "kind", "status", "subject_label", "message", "created_at", "acknowledged_by", "resolved"]
    list_filter = [OpenAlertFilter, "status", "kind"]
    list_select_related = [
        "asset",
        "tag",
        "par_level__asset_type",
        "receiver",
        "acknowledged_by",
        "resolved_by",
    ]
    search_fields = ["message", "asset__asset_tag", "tag__tag_id", "receiver__gateway_id", "par_level__unit"]
    date_hierarchy = "created_at"
    actions = ["acknowledge_selected", "resolve_selected"]
    fields = [
        "kind",
        "status",
        "subject_label",
        "message",
        "created_at",
        "acknowledged_by",
        "acknowledged_at",
        "resolved_by",
        "resolved_at",
        "auto_resolved",
    ]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # alerts are raised by the system, never typed in

    def has_delete_permission(self, request, obj=None):
        return False  # they are the record of what happened

    @admin.display(description=_("Subject"))
    def subject_label(self, obj):
        return str(obj.subject)

    @admin.display(description=_("Resolved"))
    def resolved(self, obj):
        return obj.resolved_by_label or "-"

    def _apply(self, request, queryset, service, verb):
        done, refused = 0, []
        for alert in queryset.order_by("pk"):
            try:
                service(alert=alert, user=request.user)
                done += 1
            except AlertError as exc:
                refused.append(exc.message)
        if done:
            self.message_user(request, verb % {"count": done}, messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    @admin.action(description=_("Acknowledge selected alerts"), permissions=["change"])
    def acknowledge_selected(self, request, queryset):
        self._apply(request, queryset, alert_acknowledge, _("Acknowledged %(count)s alert(s)."))

    @admin.action(description=_("Resolve selected alerts"), permissions=["change"])
    def resolve_selected(self, request, queryset):
        self._apply(request, queryset, alert_resolve, _("Resolved %(count)s alert(s)."))
