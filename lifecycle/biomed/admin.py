"""Admin of the biomed programme: plans, each asset's schedules, scheduled work with its result, and loans.

Thin: every change goes through lifecycle.biomed.services (locks, rules, change history). A change the service
refuses comes back as the form's error, with nothing saved, announced or logged (lifecycle.admin_mixins).
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from assets.models import Asset
from lifecycle.admin_mixins import NulSafeChangelist, ServiceSaveAdmin
from lifecycle.biomed import services
from lifecycle.biomed.models import (
    Loan,
    MaintenanceSchedule,
    ScheduledWork,
    SchedulePlan,
    WorkResult,
)


def _overdue_badge(schedule: MaintenanceSchedule) -> str:
    today = timezone.localdate()
    if schedule.failed:
        return format_html('<strong style="color:#b91c1c">failed {}</strong>', schedule.last_result_on or "")
    if schedule.next_due is None:
        return "unknown"
    if schedule.is_overdue(today):
        return format_html('<strong style="color:#b91c1c">{} (overdue)</strong>', schedule.next_due.isoformat())
    return schedule.next_due.isoformat()


@admin.register(SchedulePlan)
class SchedulePlanAdmin(NulSafeChangelist, admin.ModelAdmin):
    list_display = [
        "__str__",
        "asset_type",
        "manufacturer",
        "model",
        "kind",
        "interval_value",
        "interval_unit",
        "active",
    ]
    list_filter = ["kind", "active", "asset_type"]
    search_fields = ["asset_type__name", "manufacturer", "model", "name"]
    fields = [
        "asset_type",
        "manufacturer",
        "model",
        "kind",
        "name",
        "interval_value",
        "interval_unit",
        "checklist",
        "lead_days",
        "active",
    ]

    def save_model(self, request, obj, form, change):
        # Creating or changing a plan brings the schedules of its assets in line (services.plan_save).
        services.plan_save(plan=obj, user=request.user)


class OverdueFilter(admin.SimpleListFilter):
    title = _("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue or failed"), ("30", "Due within 30 days"), ("unknown", "No due date")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.filter(active=True).filter(Q(next_due__lt=today) | Q(last_result=WorkResult.FAIL))
        if self.value() == "30":
            return queryset.filter(active=True, next_due__lte=today + timedelta(days=30))
        if self.value() == "unknown":
            return queryset.filter(active=True, next_due__isnull=True)
        return queryset


class ScheduleForm(forms.ModelForm):
    class Meta:
        model = MaintenanceSchedule
        fields = ["asset", "kind", "name", "interval_value", "interval_unit", "checklist", "lead_days"]


@admin.register(MaintenanceSchedule)
class MaintenanceScheduleAdmin(ServiceSaveAdmin, NulSafeChangelist, admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["asset", "label", "interval_label", "due", "last_done", "last_result", "overrides_plan", "active"]
    list_filter = [OverdueFilter, "kind", "last_result", "overrides_plan", "active"]
    list_select_related = ["asset"]
    search_fields = ["asset__asset_tag", "name"]
    autocomplete_fields = ["asset"]
    readonly_fields = ["plan", "overrides_plan", "last_done", "last_result", "last_result_on", "next_due"]
    show_full_result_count = False
    actions = ["revert_to_plan"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "asset", "kind", "name"]

    @admin.display(description=_("due"), ordering="next_due")
    def due(self, obj):
        return _overdue_badge(obj)

    def save_through_service(self, request, obj, form, change):
        data = form.cleaned_data
        asset = data.get("asset") or obj.asset
        saved = services.schedule_set(
            asset=asset,
            kind=obj.kind,
            name=obj.name,
            interval_value=data.get("interval_value"),
            interval_unit=data.get("interval_unit"),
            checklist=data.get("checklist"),
            lead_days=data.get("lead_days"),
            user=request.user,
        )
        obj.pk, obj._state.adding = saved.pk, False

    @admin.action(description=_("Use the plan's interval and checklist again"))
    def revert_to_plan(self, request, queryset):
        for schedule in queryset.filter(plan__isnull=False):
            services.schedule_revert_to_plan(schedule=schedule, user=request.user)


class ScheduleInline(admin.TabularInline):
    """On the asset page: every schedule with its due date (edit in Maintenance schedules)."""

    model = MaintenanceSchedule
    extra = 0
    can_delete = False
    fields = ["label", "interval_label", "due", "last_done", "last_result", "overrides_plan", "active"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description=_("due"))
    def due(self, obj):
        return _overdue_badge(obj)


class ResultForm(forms.ModelForm):
    """Record the outcome of scheduled work: pass, fail, or cancel (a miss), with the miss reason when late, and
    for pass or fail one answer per checklist step (a box per step: ticked or not; a pass needs every one)."""

    outcome = forms.ChoiceField(
        choices=[
            ("", "—"),
            ("pass", "Done: pass"),
            ("fail", "Done: fail (the asset goes to biomed)"),
            ("cancel", "Cancel (missed)"),
        ],
        required=False,
    )
    steps = forms.MultipleChoiceField(
        label=_("checklist"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick each step done and found right. A pass needs every step ticked."),
        error_messages={"invalid_choice": _("the checklist changed since this page was opened: tick its steps again")},
    )
    performed_on = forms.DateField(required=False, help_text="Default today.")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    class Meta:
        model = ScheduledWork
        fields = ["miss_reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A step's value carries its text, so a tick never lands on another step if the checklist changes.
        self.fields["steps"].choices = [(self.step_value(i, step), step) for i, step in enumerate(self.checklist)]

    @property
    def checklist(self) -> list[str]:
        return list(self.instance.schedule.checklist) if self.instance.pk else []

    @staticmethod
    def step_value(index: int, step: str) -> str:
        return f"{index}:{step}"

    def clean(self):
        data = super().clean()
        if not self.instance.work_order.is_open:
            if data.get("outcome") or self.changed_data:
                reference = self.instance.work_order.reference
                raise ValidationError(f"{reference} is already closed; nothing can be recorded")
            return data
        if not data.get("outcome") and self.changed_data:
            raise ValidationError({"outcome": "choose the outcome (pass, fail or cancel) to record this"})
        ticked = set(data.get("steps") or [])
        data["checklist_results"] = [self.step_value(i, step) in ticked for i, step in enumerate(self.checklist)]
        if data.get("outcome") == "cancel" and not (data.get("miss_reason") or "").strip():
            raise ValidationError({"miss_reason": "a cancelled scheduled work order is a miss: give the reason"})
        performed = data.get("performed_on") or timezone.localdate()
        if data.get("outcome") in ("pass", "fail") and performed > self.instance.due_date:
            if not (data.get("miss_reason") or "").strip():
                raise ValidationError(
                    {"miss_reason": f"due {self.instance.due_date}, done {performed}: give the reason it was late"}
                )
        return data


@admin.register(ScheduledWork)
class ScheduledWorkAdmin(ServiceSaveAdmin, NulSafeChangelist, admin.ModelAdmin):
    form = ResultForm
    list_display = [
        "work_order",
        "asset",
        "schedule_label",
        "due_date",
        "status",
        "result",
        "performed_on",
        "on_time",
        "miss_reason",
    ]
    list_filter = ["result", "schedule__kind", "work_order__status"]
    list_select_related = ["work_order__asset", "schedule"]
    search_fields = ["work_order__asset__asset_tag", "miss_reason"]
    readonly_fields = ["work_order", "schedule", "due_date", "result", "done_on", "checklist_results"]
    fields = [*readonly_fields, "outcome", "steps", "performed_on", "miss_reason", "notes"]
    show_full_result_count = False

    def get_fields(self, request, obj=None):
        # The checklist's boxes only while there is something to tick.
        fields = super().get_fields(request, obj)
        if obj is None or not obj.schedule.checklist or not obj.work_order.is_open:
            fields = [name for name in fields if name != "steps"]
        return fields

    @admin.display(description=_("performed on"))
    def done_on(self, obj):
        return obj.performed_on or "—"

    def has_add_permission(self, request):
        return False  # scheduled work is opened by generate_work_orders

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("asset"))
    def asset(self, obj):
        return obj.work_order.asset

    @admin.display(description=_("schedule"))
    def schedule_label(self, obj):
        return obj.schedule.label

    @admin.display(description=_("status"))
    def status(self, obj):
        return obj.work_order.get_status_display()

    @admin.display(description=_("on time"), boolean=True)
    def on_time(self, obj):
        return obj.on_time

    def save_through_service(self, request, obj, form, change):
        data = form.cleaned_data
        outcome = data.get("outcome")
        if outcome in (WorkResult.PASS, WorkResult.FAIL):
            services.scheduled_work_complete(
                work_order=obj.work_order,
                user=request.user,
                result=outcome,
                performed_on=data.get("performed_on"),
                checklist_results=data["checklist_results"],
                notes=data.get("notes", ""),
                miss_reason=data.get("miss_reason", ""),
            )
        elif outcome == "cancel":
            services.scheduled_work_cancel(work_order=obj.work_order, user=request.user, reason=data["miss_reason"])


class LoanForm(forms.ModelForm):
    class Meta:
        model = Loan
        fields = ["asset", "kind", "borrower", "expected_return", "rental_cost_per_day", "note"]


@admin.register(Loan)
class LoanAdmin(ServiceSaveAdmin, NulSafeChangelist, admin.ModelAdmin):
    form = LoanForm
    list_display = [
        "asset",
        "kind",
        "borrower",
        "lent_at",
        "expected_return",
        "returned_at",
        "loan_status",
        "rental_cost_per_day",
    ]
    list_filter = ["kind"]
    list_select_related = ["asset"]
    search_fields = ["asset__asset_tag", "borrower"]
    autocomplete_fields = ["asset"]
    actions = ["mark_returned"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["asset", "kind", "borrower", "rental_cost_per_day", "lent_at", "lent_by", "returned_at", "returned_by"]

    @admin.display(description=_("status"))
    def loan_status(self, obj):
        if obj.returned_at:
            return "returned"
        if obj.is_overdue():
            return format_html('<strong style="color:#b91c1c">{}</strong>', "return overdue")
        return "on loan"

    def save_through_service(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            loan = services.loan_start(
                asset=data["asset"],
                kind=data["kind"],
                borrower=data["borrower"],
                expected_return=data["expected_return"],
                rental_cost_per_day=data.get("rental_cost_per_day"),
                note=data.get("note", ""),
                user=request.user,
            )
            obj.pk, obj._state.adding = loan.pk, False
        elif "expected_return" in form.changed_data:
            services.loan_extend(loan=obj, user=request.user, expected_return=data["expected_return"])

    @admin.action(description=_("Mark the selected loans returned now"))
    def mark_returned(self, request, queryset):
        done = 0
        for loan in queryset.filter(returned_at__isnull=True):
            try:
                services.loan_return(loan=loan, user=request.user)
            except services.LoanError as exc:  # returned by someone else meanwhile
                self.message_user(request, str(exc), level=messages.WARNING)
                continue
            done += 1
        self.message_user(request, _("%(count)s loan(s) marked returned.") % {"count": done})


# The asset page lists its schedules (assets.admin.AssetAdmin.inlines gets this inline appended here, so the
# asset admin module stays free of biomed imports).
from django.contrib.admin.sites import site as _site  # noqa: E402

if Asset in _site._registry:
    _asset_admin = _site._registry[Asset]
    if ScheduleInline not in _asset_admin.inlines:
        _asset_admin.inlines = [*_asset_admin.inlines, ScheduleInline]
