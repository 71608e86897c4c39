"""Admin for the lifecycle records: read-only audit, editable room-type rules, work orders and recalls."""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from assets.admin import admin_link, location_badge, where_label
from assets.filters import first_of_next_month
from declarations.roles import Role
from declarations.states import AssetState
from lifecycle.admin_mixins import ServiceSaveAdmin
from lifecycle.biomed.selectors import asset_next_due
from lifecycle.display import state_badge
from lifecycle.exceptions import LifecycleError
from lifecycle.history import record_changes, snapshot
from lifecycle.models import (
    OPEN_WORK_ORDER_STATUSES,
    ChangeRecord,
    Recall,
    RoomTypeRule,
    TransitionLog,
    WorkOrder,
    WorkOrderKind,
    WorkOrderStatus,
)
from lifecycle.selectors import assets_pm_overdue, recall_affected_assets
from lifecycle.services import (
    WORK_ORDER_EDITABLE_FIELDS,
    recall_issue,
    work_order_open,
    work_order_update,
)
from lifecycle.work_orders import work_order_check_status_change

# The admin index shows the department's dashboard (lifecycle/dashboard.py) above the app list.
admin.site.index_template = "admin/hospital_index.html"
admin.site.site_header = _("Hospital equipment administration")
admin.site.site_title = _("Hospital equipment")
admin.site.index_title = _("Today")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Audit rows: visible to whoever may view them, changed by nobody."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TransitionLog)
class TransitionLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "asset", "transition", "from_badge", "to_badge", "user", "room", "source", "note"]
    list_filter = ["transition", "source", "to_state", "from_state"]
    list_select_related = ["asset", "user", "room"]
    search_fields = ["asset__asset_tag", "user__username", "note"]
    date_hierarchy = "at"

    @admin.display(description=_("from"), ordering="from_state")
    def from_badge(self, obj):
        return state_badge(obj.from_state)

    @admin.display(description=_("to"), ordering="to_state")
    def to_badge(self, obj):
        return state_badge(obj.to_state)


@admin.register(ChangeRecord)
class ChangeRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "content_type", "object_repr", "action", "user", "changed_fields"]
    list_filter = ["content_type", "action"]
    list_select_related = ["content_type", "user"]
    search_fields = ["object_repr", "object_id", "user__username"]
    date_hierarchy = "at"

    @admin.display(description=_("fields"))
    def changed_fields(self, obj):
        return ", ".join(obj.changes)


class RoomTypeRuleForm(forms.ModelForm):
    from_states = forms.MultipleChoiceField(
        choices=[(s.value, s.label) for s in AssetState if s != AssetState.DECOMMISSIONED],
        widget=forms.CheckboxSelectMultiple,
        help_text="Assets in these states are moved when they enter a room of this type.",
    )

    class Meta:
        model = RoomTypeRule
        fields = ["room_type", "from_states", "to_state", "active", "description"]


@admin.register(RoomTypeRule)
class RoomTypeRuleAdmin(admin.ModelAdmin):
    form = RoomTypeRuleForm
    list_display = ["__str__", "room_type", "to_state", "active", "updated_at"]
    list_filter = ["room_type", "active"]

    # Rule edits change what the system does to equipment by itself: each lands in the change history.
    def save_model(self, request, obj, form, change):
        before = snapshot(RoomTypeRule.objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        record_changes(instance=obj, user=request.user, before=before, after=snapshot(obj))

    def delete_model(self, request, obj):
        record_changes(instance=obj, user=request.user, before=snapshot(obj), after={"deleted": True})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class WorkOrderForm(forms.ModelForm):
    completed_on = forms.DateField(
        required=False, help_text="For a PM marked done: the date the PM was done (default today)."
    )

    class Meta:
        model = WorkOrder
        fields = ["asset", "kind", "recall", "technician", "status", "notes"]

    def clean(self):
        data = super().clean()
        if self.instance.pk:
            try:
                work_order_check_status_change(old=self.initial["status"], new=data.get("status"))
            except LifecycleError as exc:
                raise ValidationError({"status": exc.message}) from None
        elif data.get("status") not in (None, WorkOrderStatus.OPEN):
            raise ValidationError({"status": "a new work order starts open"})
        if data.get("completed_on") and data.get("status") != WorkOrderStatus.DONE:
            raise ValidationError({"completed_on": "only for a work order marked done"})
        return data


class MyWorkOrdersFilter(admin.SimpleListFilter):
    title = _("assigned")
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("open", "My open work orders"), ("all", "All my work orders"), ("nobody", "Open, nobody assigned")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(technician=request.user, status__in=OPEN_WORK_ORDER_STATUSES)
        if self.value() == "all":
            return queryset.filter(technician=request.user)
        if self.value() == "nobody":
            return queryset.filter(technician__isnull=True, status__in=OPEN_WORK_ORDER_STATUSES)
        return queryset


class AssetPmDueFilter(admin.SimpleListFilter):
    """PM work orders whose asset is due (lifecycle.selectors.assets_pm_overdue, the one PM rule)."""

    title = _("PM due")
    parameter_name = "pm"

    def lookups(self, request, model_admin):
        return [("month", "PM due this month (overdue included)"), ("overdue", "PM overdue")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "month":
            due = assets_pm_overdue(today=first_of_next_month(today))
        elif self.value() == "overdue":
            due = assets_pm_overdue(today=today)
        else:
            return queryset
        return queryset.filter(kind=WorkOrderKind.PM, asset__in=due.values("pk"))


@admin.register(WorkOrder)
class WorkOrderAdmin(ServiceSaveAdmin, admin.ModelAdmin):
    form = WorkOrderForm

    def has_delete_permission(self, request, obj=None):
        # A work order is part of the asset's maintenance record: cancel it, never delete it. Not even a
        # superuser (the admin grants superusers every permission unless it is refused here).
        return False

    list_display = [
        "reference",
        "asset",
        "asset_where",
        "kind",
        "status",
        "technician",
        "recall",
        "asset_pm_due",
        "opened_at",
        "closed_at",
    ]
    list_filter = [MyWorkOrdersFilter, AssetPmDueFilter, "kind", "status"]
    list_select_related = ["asset__asset_type", "asset__current_room__floor__building", "technician", "recall"]
    search_fields = ["asset__asset_tag", "asset__serial_number", "recall__reference_number", "notes"]
    autocomplete_fields = ["asset"]
    readonly_fields = ["opened_at", "opened_by", "closed_at"]
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "asset", "kind", "recall"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "technician":
            # Work orders go to clinical engineering staff; a plain list, no user admin access needed.
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(is_active=True)
                .filter(Q(groups__name=Role.CLINICAL_ENGINEERING.group_name) | Q(is_superuser=True))
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("where"), ordering="asset__current_room__code")
    def asset_where(self, obj):
        return where_label(obj.asset) or "—"

    @admin.display(description=_("asset PM due"))
    def asset_pm_due(self, obj):
        due = asset_next_due(asset=obj.asset)
        if due is None:
            return "—"
        if due < timezone.localdate():
            return format_html('<strong style="color:#b91c1c">{} (overdue)</strong>', due.isoformat())
        return due.isoformat()

    def save_through_service(self, request, obj, form, change):
        # The services keep the rules (status order, closed_at, last PM date, scheduled work closed only with its
        # result) and the change history. A refusal comes back as the form's error (lifecycle.admin_mixins).
        data = form.cleaned_data
        if not change:
            created = work_order_open(
                asset=data["asset"],
                kind=data["kind"],
                user=request.user,
                notes=data.get("notes", ""),
                technician=data.get("technician"),
                recall=data.get("recall"),
            )
            obj.pk, obj._state.adding = created.pk, False
            return
        changes = {name: data[name] for name in form.changed_data if name in WORK_ORDER_EDITABLE_FIELDS}
        if changes:
            work_order_update(work_order=obj, user=request.user, **changes)


class RecallForm(forms.ModelForm):
    serial_numbers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text='Affected serial numbers, one per line or comma-separated, or "all".',
    )

    class Meta:
        model = Recall
        fields = ["reference_number", "manufacturer", "model", "serial_numbers", "issued_date", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        value = self.initial.get("serial_numbers")
        if isinstance(value, list):
            self.initial["serial_numbers"] = "\n".join(value)

    def clean_serial_numbers(self):
        text = self.cleaned_data["serial_numbers"].strip()
        if text.lower() == Recall.ALL_SERIALS:
            return Recall.ALL_SERIALS
        serials = sorted({s.strip() for s in text.replace(",", "\n").splitlines() if s.strip()})
        if not serials:
            raise ValidationError('list the affected serial numbers, or write "all"')
        return serials


class RecallWorkOrderInline(admin.TabularInline):
    model = WorkOrder
    extra = 0
    can_delete = False
    fields = ["reference", "asset", "status", "technician", "closed_at"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


RECALL_PANEL_ROWS = 500


@admin.register(Recall)
class RecallAdmin(admin.ModelAdmin):
    form = RecallForm
    list_display = ["reference_number", "manufacturer", "model", "issued_date", "open_work_orders", "work_orders_total"]
    search_fields = ["reference_number", "manufacturer", "model"]
    inlines = [RecallWorkOrderInline]
    actions = ["open_missing_work_orders"]

    def get_queryset(self, request):
        # Both counts in the list query: no query per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                open_count=Count("work_orders", filter=Q(work_orders__status__in=OPEN_WORK_ORDER_STATUSES)),
                total_count=Count("work_orders"),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        # The affected set is fixed once issued: a different recall needs a new reference.
        if obj is None:
            return []
        return ["reference_number", "manufacturer", "model", "serial_numbers", "issued_date", "affected_assets"]

    def get_fields(self, request, obj=None):
        fields = ["reference_number", "manufacturer", "model", "serial_numbers", "issued_date", "description"]
        return fields if obj is None else [*fields, "affected_assets"]

    @admin.display(description=_("open work orders"), ordering="open_count")
    def open_work_orders(self, obj):
        return obj.open_count

    @admin.display(description=_("work orders"), ordering="total_count")
    def work_orders_total(self, obj):
        return obj.total_count

    @admin.display(description=_("affected assets in service, and where they are now"))
    def affected_assets(self, obj):
        assets = list(recall_affected_assets(recall=obj)[: RECALL_PANEL_ROWS + 1])
        if not assets:
            return "No asset in service matches this recall."
        rows = (
            (
                admin_link(asset, asset.asset_tag),
                state_badge(asset.state),
                where_label(asset) or "—",
                location_badge(asset.location_status),
                timezone.localtime(asset.last_seen).strftime("%Y-%m-%d %H:%M") if asset.last_seen else "never",
                format_html(
                    '<a href="{}">WO-{}</a> ({})',
                    reverse("admin:lifecycle_workorder_change", args=[asset.recall_work_order_id]),
                    asset.recall_work_order_id,
                    WorkOrderStatus(asset.recall_work_order_status).label,
                )
                if asset.recall_work_order_id
                else "none yet",
            )
            for asset in assets[:RECALL_PANEL_ROWS]
        )
        body = format_html_join(
            "", "<tr>{}</tr>", ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows)
        )
        more = (
            format_html("<p>Only the first {} are listed.</p>", RECALL_PANEL_ROWS)
            if len(assets) > RECALL_PANEL_ROWS
            else ""
        )
        return format_html(
            '<table class="recall-affected"><thead><tr><th>asset</th><th>state</th><th>room and floor</th>'
            "<th>location</th><th>last seen</th><th>recall work order</th></tr></thead><tbody>{}</tbody></table>{}",
            body,
            more,
        )

    def save_model(self, request, obj, form, change):
        if change:
            before = snapshot(Recall.objects.get(pk=obj.pk))
            super().save_model(request, obj, form, change)
            record_changes(instance=obj, user=request.user, before=before, after=snapshot(obj))
            return
        data = form.cleaned_data
        result = recall_issue(
            reference_number=data["reference_number"],
            manufacturer=data["manufacturer"],
            model=data["model"],
            serial_numbers=data["serial_numbers"],
            issued_date=data["issued_date"],
            description=data.get("description", ""),
            user=request.user,
        )
        obj.pk, obj._state.adding = result.recall.pk, False
        self.message_user(
            request,
            _("Recall %(recall)s: %(count)s work order(s) opened.")
            % {"recall": result.recall.reference_number, "count": len(result.opened)},
        )

    @admin.action(description=_("Open recall work orders for affected assets that have none"))
    def open_missing_work_orders(self, request, queryset):
        for recall in queryset:
            result = recall_issue(
                reference_number=recall.reference_number,
                manufacturer=recall.manufacturer,
                model=recall.model,
                serial_numbers=recall.serial_numbers,
                issued_date=recall.issued_date,
                description=recall.description,
                user=request.user,
            )
            self.message_user(
                request,
                _("%(recall)s: %(count)s work order(s) opened.")
                % {"recall": recall.reference_number, "count": len(result.opened)},
            )
