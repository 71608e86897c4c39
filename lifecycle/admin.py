"""Admin for the lifecycle records: read-only audit, editable room-type rules, work orders and recalls."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from lifecycle.display import state_badge
from lifecycle.exceptions import LifecycleError
from lifecycle.history import record_changes, snapshot
from lifecycle.models import (
    ChangeRecord,
    Recall,
    RoomTypeRule,
    TransitionLog,
    WorkOrder,
    WorkOrderStatus,
)
from lifecycle.services import (
    WORK_ORDER_EDITABLE_FIELDS,
    recall_issue,
    work_order_check_status_change,
    work_order_open,
    work_order_update,
)
from lifecycle.states import AssetState


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

    @admin.display(description="from", ordering="from_state")
    def from_badge(self, obj):
        return state_badge(obj.from_state)

    @admin.display(description="to", ordering="to_state")
    def to_badge(self, obj):
        return state_badge(obj.to_state)


@admin.register(ChangeRecord)
class ChangeRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "content_type", "object_repr", "action", "user", "changed_fields"]
    list_filter = ["content_type", "action"]
    list_select_related = ["content_type", "user"]
    search_fields = ["object_repr", "object_id", "user__username"]
    date_hierarchy = "at"

    @admin.display(description="fields")
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


@admin.register(WorkOrder)
class WorkOrderAdmin(admin.ModelAdmin):
    form = WorkOrderForm
    list_display = ["reference", "asset", "kind", "status", "technician", "recall", "opened_at", "closed_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["asset", "technician", "recall"]
    search_fields = ["asset__asset_tag", "asset__serial_number", "recall__reference_number", "notes"]
    autocomplete_fields = ["asset", "technician"]
    readonly_fields = ["opened_at", "opened_by", "closed_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "asset", "kind", "recall"]

    def save_model(self, request, obj, form, change):
        # The services keep the rules (status order, closed_at, last PM date) and the change history.
        data = form.cleaned_data
        try:
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
        except LifecycleError as exc:
            # The form checked first; this only happens when someone else changed it meanwhile.
            self.message_user(request, str(exc), level=messages.ERROR)


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


@admin.register(Recall)
class RecallAdmin(admin.ModelAdmin):
    form = RecallForm
    list_display = ["reference_number", "manufacturer", "model", "issued_date", "open_work_orders"]
    search_fields = ["reference_number", "manufacturer", "model"]
    inlines = [RecallWorkOrderInline]
    actions = ["open_missing_work_orders"]

    def get_readonly_fields(self, request, obj=None):
        # The affected set is fixed once issued: a different recall needs a new reference.
        if obj is None:
            return []
        return ["reference_number", "manufacturer", "model", "serial_numbers", "issued_date"]

    @admin.display(description="open work orders")
    def open_work_orders(self, obj):
        return obj.work_orders.exclude(status__in=[WorkOrderStatus.DONE, WorkOrderStatus.CANCELLED]).count()

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
            request, f"Recall {result.recall.reference_number}: {len(result.opened)} work order(s) opened."
        )

    @admin.action(description="Open recall work orders for affected assets that have none")
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
            self.message_user(request, f"{recall.reference_number}: {len(result.opened)} work order(s) opened.")
