"""The biomed programme: maintenance schedules and their work, and loans (docs/biomed.md).

- ``SchedulePlan``: what a type or a model needs (kind, interval in days or months, checklist, how many
  days ahead the work order is opened). One plan per (type or model, kind, name).
- ``MaintenanceSchedule``: one per asset and (kind, name), materialised from the plans (services.
  schedules_materialise) or set on the asset alone. It stores the effective interval and checklist, the
  last passing completion, the last result and the due date, so "is anything overdue?" is one indexed
  query at 50,000 assets. ``overrides_plan`` marks an asset's own values, which a plan change leaves alone.
- ``ScheduledWork``: the schedule's side of a WorkOrder: due date, result, checklist answers, miss reason.
- ``Loan``: off-site custody. Not a lifecycle state: the asset keeps its state.
"""

from __future__ import annotations

from datetime import date

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class ScheduleKind(models.TextChoices):
    PM = "pm", _("Preventive maintenance")
    CALIBRATION = "calibration", _("Calibration")
    ELECTRICAL_SAFETY = "electrical_safety", _("Electrical safety test")
    OTHER = "other", _("Other (named)")


# How a kind is named in a blocker ("PM overdue since 2026-10-02"): short, the words staff use.
KIND_SHORT = {
    ScheduleKind.PM: pgettext_lazy("maintenance kind", "PM"),  # a context: Django's own "PM" is the time of day
    ScheduleKind.CALIBRATION: _("calibration"),
    ScheduleKind.ELECTRICAL_SAFETY: _("electrical safety test"),
    ScheduleKind.OTHER: _("maintenance"),
}


class IntervalUnit(models.TextChoices):
    DAYS = "days", _("days")
    MONTHS = "months", _("months")


class WorkResult(models.TextChoices):
    PASS = "pass", _("Pass")
    FAIL = "fail", _("Fail")


DEFAULT_LEAD_DAYS = 14


def add_interval(base: date, value: int, unit: str) -> date:
    """``base`` plus the interval; months are calendar months (31 Jan + 1 month = 28/29 Feb)."""
    if unit == IntervalUnit.MONTHS:
        return base + relativedelta(months=value)
    return base + relativedelta(days=value)


class _ScheduleFields(models.Model):
    kind = models.CharField(max_length=20, choices=ScheduleKind.choices, verbose_name=_("kind"))
    name = models.CharField(
        max_length=80,
        blank=True,
        help_text=_('Required for kind "other" (e.g. "battery replacement"); optional else.'),
        verbose_name=_("name"),
    )
    interval_value = models.PositiveIntegerField(
        help_text=_("Every so many days or months."), verbose_name=_("interval value")
    )
    interval_unit = models.CharField(
        max_length=6, choices=IntervalUnit.choices, default=IntervalUnit.DAYS, verbose_name=_("interval unit")
    )
    checklist = models.JSONField(
        default=list,
        blank=True,
        help_text=_('The procedure, as a list of steps: ["step", ...].'),
        verbose_name=_("checklist"),
    )
    lead_days = models.PositiveIntegerField(
        default=DEFAULT_LEAD_DAYS,
        help_text=_("Open the work order this many days before the due date."),
        verbose_name=_("lead days"),
    )

    class Meta:
        abstract = True

    @property
    def label(self) -> str:
        if self.kind == ScheduleKind.OTHER or self.name:
            return self.name or ScheduleKind(self.kind).label
        return ScheduleKind(self.kind).label

    @property
    def short_label(self) -> str:
        return self.name or str(KIND_SHORT[ScheduleKind(self.kind)])

    @property
    def interval_label(self) -> str:
        return f"every {self.interval_value} {self.interval_unit}"

    def clean(self):
        errors = {}
        if self.kind == ScheduleKind.OTHER and not (self.name or "").strip():
            errors["name"] = 'a schedule of kind "other" needs a name'
        if not self.interval_value or self.interval_value < 1:
            errors["interval_value"] = "the interval must be at least 1"
        elif (self.interval_unit == IntervalUnit.DAYS and self.interval_value > 3650) or (
            self.interval_unit == IntervalUnit.MONTHS and self.interval_value > 120
        ):
            errors["interval_value"] = "the interval must be at most 10 years"
        if not isinstance(self.checklist, list) or not all(isinstance(s, str) and s.strip() for s in self.checklist):
            errors["checklist"] = 'give the checklist as a list of non-empty steps: ["step one", "step two"]'
        if errors:
            raise ValidationError(errors)


class SchedulePlan(_ScheduleFields):
    """A schedule every asset of a type, or of a manufacturer's model, gets. A model's plan wins over its
    type's plan of the same kind and name."""

    asset_type = models.ForeignKey(
        "assets.AssetType",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="schedule_plans",
        verbose_name=_("asset type"),
    )
    manufacturer = models.CharField(max_length=100, blank=True, verbose_name=_("manufacturer"))
    model = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("With manufacturer: a plan for this model only."),
        verbose_name=_("model"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("schedule plan")
        verbose_name_plural = gettext_lazy("schedule plans")
        ordering = ["asset_type__name", "manufacturer", "model", "kind", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(asset_type__isnull=False) & Q(model=""))
                | (Q(asset_type__isnull=True) & ~Q(model="") & ~Q(manufacturer="")),
                name="plan_for_a_type_or_a_model",
            ),
            models.UniqueConstraint(
                fields=["asset_type", "kind", "name"], condition=Q(asset_type__isnull=False), name="one_plan_per_type"
            ),
            models.UniqueConstraint(
                fields=["manufacturer", "model", "kind", "name"],
                condition=Q(asset_type__isnull=True),
                name="one_plan_per_model",
            ),
        ]

    def __str__(self):
        scope = self.asset_type.name if self.asset_type_id else f"{self.manufacturer} {self.model}"
        return f"{scope}: {self.label} {self.interval_label}"

    def clean(self):
        super().clean()
        if self.asset_type_id is None and not (self.manufacturer.strip() and self.model.strip()):
            raise ValidationError("a plan is for an asset type, or for a manufacturer and model")
        if self.asset_type_id is not None and self.model.strip():
            raise ValidationError("a plan is for an asset type or for a model, not both")


class MaintenanceSchedule(_ScheduleFields):
    asset = models.ForeignKey(
        "assets.Asset", on_delete=models.CASCADE, related_name="schedules", verbose_name=_("asset")
    )
    plan = models.ForeignKey(
        SchedulePlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="schedules", verbose_name=_("plan")
    )
    overrides_plan = models.BooleanField(
        default=False,
        help_text=_("The asset's own interval and checklist: a change of the plan leaves them alone."),
        verbose_name=_("overrides plan"),
    )
    active = models.BooleanField(default=True, verbose_name=_("active"))
    last_done = models.DateField(
        null=True, blank=True, help_text=_("The last passing completion."), verbose_name=_("last done")
    )
    last_result = models.CharField(max_length=4, choices=WorkResult.choices, blank=True, verbose_name=_("last result"))
    last_result_on = models.DateField(null=True, blank=True, verbose_name=_("last result on"))
    next_due = models.DateField(
        null=True,
        blank=True,
        db_index=True,
        help_text=_(
            "Last passing completion (before the first: the in-service date) plus the interval. "
            "Blank: neither is known."
        ),
        verbose_name=_("next due"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("maintenance schedule")
        verbose_name_plural = gettext_lazy("maintenance schedules")
        ordering = ["asset", "next_due", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["asset", "kind", "name"], name="one_schedule_per_asset_kind")]
        indexes = [models.Index(fields=["active", "next_due"], name="schedule_active_due")]

    def __str__(self):
        return f"{self.asset}: {self.label} {self.interval_label}"

    def compute_next_due(self, in_service_date: date | None) -> date | None:
        base = self.last_done or in_service_date
        return add_interval(base, self.interval_value, self.interval_unit) if base else None

    def is_overdue(self, today: date) -> bool:
        return self.active and self.next_due is not None and self.next_due < today

    @property
    def failed(self) -> bool:
        return self.active and self.last_result == WorkResult.FAIL


class ScheduledWork(models.Model):
    """The schedule's part of a work order. ``on_time``: closed done (pass or fail) on or before the due date."""

    work_order = models.OneToOneField(
        "lifecycle.WorkOrder", on_delete=models.CASCADE, related_name="scheduled", verbose_name=_("work order")
    )
    schedule = models.ForeignKey(
        MaintenanceSchedule, on_delete=models.PROTECT, related_name="work", verbose_name=_("schedule")
    )
    due_date = models.DateField(db_index=True, verbose_name=_("due date"))
    result = models.CharField(max_length=4, choices=WorkResult.choices, blank=True, verbose_name=_("result"))
    performed_on = models.DateField(null=True, blank=True, verbose_name=_("performed on"))
    checklist_results = models.JSONField(
        default=list, blank=True, help_text=_('[{"step": ..., "ok": true}, ...]'), verbose_name=_("checklist results")
    )
    miss_reason = models.TextField(
        blank=True, help_text=_("Why it closed late or was cancelled."), verbose_name=_("miss reason")
    )

    class Meta:
        verbose_name = gettext_lazy("scheduled work")
        verbose_name_plural = gettext_lazy("scheduled work")
        ordering = ["-due_date", "-id"]

    def __str__(self):
        return f"{self.work_order.reference}: {self.schedule.label} due {self.due_date}"

    @property
    def on_time(self) -> bool:
        return bool(self.performed_on and self.result and self.performed_on <= self.due_date)


class LoanKind(models.TextChoices):
    PATIENT_HOME = "patient_home", _("Patient home")
    OTHER_SITE = "other_site", _("Another site")
    VENDOR_REPAIR = "vendor_repair", _("Vendor repair")
    RENTAL_RETURN = "rental_return", _("Rental returned to vendor")


class Loan(models.Model):
    """An asset off site with permission. Open while ``returned_at`` is empty; overdue after ``expected_return``."""

    asset = models.ForeignKey("assets.Asset", on_delete=models.PROTECT, related_name="loans", verbose_name=_("asset"))
    kind = models.CharField(max_length=20, choices=LoanKind.choices, verbose_name=_("kind"))
    borrower = models.CharField(
        max_length=200,
        help_text=_("To whom or where: a patient reference, a site, a vendor."),
        verbose_name=_("borrower"),
    )
    expected_return = models.DateTimeField(verbose_name=_("expected return"))
    rental_cost_per_day = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("For a rented device: the cost per day."),
        verbose_name=_("rental cost per day"),
    )
    note = models.TextField(blank=True, verbose_name=_("note"))
    lent_at = models.DateTimeField(default=timezone.now, verbose_name=_("lent at"))
    lent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("lent by")
    )
    returned_at = models.DateTimeField(null=True, blank=True, verbose_name=_("returned at"))
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("returned by"),
    )

    class Meta:
        verbose_name = gettext_lazy("loan")
        verbose_name_plural = gettext_lazy("loans")
        ordering = ["-lent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["asset"], condition=Q(returned_at__isnull=True), name="one_open_loan"),
            models.CheckConstraint(condition=Q(expected_return__gt=models.F("lent_at")), name="loan_returns_later"),
        ]

    def __str__(self):
        return f"{self.asset} lent to {self.borrower} until {timezone.localtime(self.expected_return):%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.returned_at is None

    def is_overdue(self, now=None) -> bool:
        return self.is_open and (now or timezone.now()) > self.expected_return

    @property
    def status_text(self) -> str:
        """What the map, the admin and the API show: "on loan until 2026-12-24"."""
        until = timezone.localtime(self.expected_return).strftime("%Y-%m-%d %H:%M")
        overdue = " (return overdue)" if self.is_overdue() else ""
        return f"on loan ({LoanKind(self.kind).label.lower()}, {self.borrower}) until {until}{overdue}"


class UtilisationDay(models.Model):
    """Rollup: seconds spent in each state on one closed day, per asset type and owning unit
    (lifecycle.biomed.utilisation.utilisation_rollup; read by utilisation())."""

    day = models.DateField(verbose_name=_("day"))
    asset_type_id = models.BigIntegerField(verbose_name=_("asset type id"))
    unit = models.CharField(max_length=64, blank=True, verbose_name=_("unit"))
    state = models.CharField(max_length=20, verbose_name=_("state"))
    seconds = models.BigIntegerField(verbose_name=_("seconds"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "asset_type_id", "unit", "state"], name="one_rollup_per_day_group")
        ]

    def __str__(self):
        return f"{self.day} type {self.asset_type_id} {self.unit}: {self.state} {self.seconds} s"


class TurnaroundCycle(models.Model):
    """Rollup: one soiled -> available cycle whose arrival in available falls on a rolled-up day."""

    asset_id = models.BigIntegerField(verbose_name=_("asset id"))
    asset_type_id = models.BigIntegerField(verbose_name=_("asset type id"))
    unit = models.CharField(max_length=64, blank=True, verbose_name=_("unit"))
    soiled_at = models.DateTimeField(verbose_name=_("soiled at"))
    available_at = models.DateTimeField(db_index=True, verbose_name=_("available at"))
    seconds = models.FloatField(verbose_name=_("seconds"))

    def __str__(self):
        return f"asset {self.asset_id}: soiled {self.soiled_at} -> available {self.available_at}"


class UtilisationRollup(models.Model):
    """How far the rollups reach: every day up to and including ``through_day`` is rolled up (one row)."""

    through_day = models.DateField(verbose_name=_("through day"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    def __str__(self):
        return f"rolled up through {self.through_day}"
