"""Lifecycle records: the transition log, change history, room-type rules, work orders and recalls."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition

from config.access import StatusTransitionPermission
from declarations.policy import WORK_ORDER_TRANSITIONS
from declarations.room_types import RoomType
from declarations.states import AssetState, state_definition
from declarations.transitions import TransitionName


class Source(models.TextChoices):
    """What started a change."""

    USER = "user", _("A user, in the admin or on the map")
    RULE = "rule", _("A room-type rule")
    API = "api", _("The REST API")
    SYSTEM = "system", _("The system")


# Append-only records ------------------------------------------------------------------------------


class AppendOnlyError(Exception):
    """An attempt to change or delete an audit row."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model._meta.verbose_name} rows are append-only; they cannot be updated")

    def bulk_update(self, objs, fields, batch_size=None):
        raise AppendOnlyError(f"{self.model._meta.verbose_name} rows are append-only; they cannot be updated")

    def delete(self):
        raise AppendOnlyError(f"{self.model._meta.verbose_name} rows are append-only; they cannot be deleted")


class AppendOnlyModel(models.Model):
    """Rows are written once. Django refuses updates and deletes here, and on PostgreSQL a trigger
    refuses them in the database too (migration 0003), so not even raw SQL rewrites history."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AppendOnlyError(f"{self._meta.verbose_name} rows are append-only; they cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{self._meta.verbose_name} rows are append-only; they cannot be deleted")


class TransitionLog(AppendOnlyModel):
    """One row per lifecycle transition (docs/design.md §3): who moved which asset from what to what, where and why."""

    asset = models.ForeignKey(
        "assets.Asset", on_delete=models.PROTECT, related_name="transition_logs", verbose_name=_("asset")
    )
    transition = models.CharField(max_length=32, choices=TransitionName.choices, verbose_name=_("transition"))
    from_state = models.CharField(max_length=20, choices=AssetState.choices, verbose_name=_("from state"))
    to_state = models.CharField(max_length=20, choices=AssetState.choices, verbose_name=_("to state"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Blank: the system (a room-type rule)."),
        verbose_name=_("user"),
    )
    at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("at"))
    room = models.ForeignKey(
        "locations.Room",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Where the asset was at that moment."),
        verbose_name=_("room"),
    )
    note = models.TextField(blank=True, verbose_name=_("note"))
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.USER, verbose_name=_("source"))

    class Meta:
        verbose_name = gettext_lazy("transition log entry")
        verbose_name_plural = gettext_lazy("transition log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["asset", "-at"], name="transitionlog_asset_at")]

    def __str__(self):
        who = self.user or "system"
        return f"{self.asset}: {self.from_state} → {self.to_state} ({self.transition}, {who})"

    @property
    def from_definition(self):
        return state_definition(self.from_state)

    @property
    def to_definition(self):
        return state_definition(self.to_state)


class ChangeRecord(AppendOnlyModel):
    """Who changed which fields of an asset, checklist or work order, and when (lifecycle.history)."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        CHANGED = "changed", _("Changed")

    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", verbose_name=_("content type")
    )
    object_id = models.CharField(max_length=64, verbose_name=_("object id"))
    target = GenericForeignKey("content_type", "object_id")
    object_repr = models.CharField(
        max_length=200, help_text=_("The object as it was named at that moment."), verbose_name=_("object repr")
    )
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.CHANGED, verbose_name=_("action"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("at"))
    changes = models.JSONField(
        encoder=DjangoJSONEncoder, help_text=_('{"field": {"from": old, "to": new}}'), verbose_name=_("changes")
    )

    class Meta:
        verbose_name = gettext_lazy("change record")
        verbose_name_plural = gettext_lazy("change records")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-at"], name="changerecord_object_at")]

    def __str__(self):
        return f"{self.object_repr}: {', '.join(self.changes)} by {self.user or 'system'}"


# Location drives status ---------------------------------------------------------------------------


# A rule may only take availability away (issue 13, defect 3): it can send equipment to be reprocessed
# or checked, never make it available, reserved or in use (those have their own guarded transitions:
# return_to_service, release, finish_cleaning...). And it never touches equipment that biomed holds or
# that a dispatch request has claimed.
RULE_TARGETS = (AssetState.SOILED, AssetState.CLEANING, AssetState.BIOMED)
RULE_NEVER_FROM = (AssetState.BIOMED, AssetState.RESERVED, AssetState.DECOMMISSIONED)


def room_rule_problems(*, from_states, to_state) -> dict[str, str]:
    """Why a rule with these states is not allowed ({field: message}); empty when it is. Used by the
    model's clean(), by the service before it applies a rule, and by the migration that checks old rows."""
    problems = {}
    if to_state not in RULE_TARGETS:
        if to_state == AssetState.DECOMMISSIONED:
            problems["to_state"] = "only the decommissioning checklist and dual sign-off retire an asset"
        else:
            problems["to_state"] = (
                f"a room-type rule may only take availability away: its target must be "
                f"{', '.join(RULE_TARGETS)}, not {to_state}; {to_state} is reached through its own transition "
                "with its own checks"
            )
    if isinstance(from_states, list):
        if AssetState.DECOMMISSIONED in from_states:
            problems["from_states"] = "decommissioned is terminal: no rule may move a retired asset"
        else:
            held = [s for s in from_states if s in RULE_NEVER_FROM]
            if held:
                problems["from_states"] = (
                    f"no rule may move equipment that is {' or '.join(held)}: biomed releases it with "
                    "return_to_service, a reservation ends with delivery or release"
                )
    return problems


class RoomTypeRule(models.Model):
    """Entering a room of ``room_type`` moves an asset in one of ``from_states`` to ``to_state``."""

    room_type = models.CharField(max_length=32, choices=RoomType.choices, db_index=True, verbose_name=_("room type"))
    from_states = models.JSONField(
        default=list,
        help_text=_('States the rule applies to, e.g. ["in_use", "available"].'),
        verbose_name=_("from states"),
    )
    to_state = models.CharField(max_length=20, choices=AssetState.choices, verbose_name=_("to state"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    description = models.CharField(max_length=200, blank=True, verbose_name=_("description"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("room-type rule")
        verbose_name_plural = gettext_lazy("room-type rules")
        ordering = ["room_type", "id"]
        constraints = [
            # The database's backstop for RULE_TARGETS (migration 0006 deactivated older rules first).
            models.CheckConstraint(
                condition=Q(active=False) | Q(to_state__in=["soiled", "cleaning", "biomed"]),
                name="room_rule_only_takes_availability_away",
            )
        ]

    def __str__(self):
        return self.describe()

    def describe(self) -> str:
        froms = " or ".join(state_definition(s).label.lower() for s in self.from_states if s in AssetState.values)
        return (
            f"entering a {RoomType(self.room_type).label.lower()} room moves {froms or '(no state)'} "
            f"to {state_definition(self.to_state).label.lower()}"
        )

    def clean(self):
        errors = {}
        if not isinstance(self.from_states, list) or not self.from_states:
            errors["from_states"] = 'list at least one state, e.g. ["in_use", "available"]'
        else:
            unknown = [s for s in self.from_states if s not in AssetState.values]
            if unknown:
                errors["from_states"] = f"unknown state(s) {unknown}; valid: {', '.join(AssetState.values)}"
            elif self.to_state in self.from_states:
                errors["from_states"] = f"{self.to_state} is both a from state and the to state"
        for name, message in room_rule_problems(from_states=self.from_states, to_state=self.to_state).items():
            errors.setdefault(name, message)
        if not errors and self.active:
            clashes = RoomTypeRule.objects.filter(room_type=self.room_type, active=True).exclude(pk=self.pk)
            overlap = [
                (rule, sorted(set(rule.from_states) & set(self.from_states)))
                for rule in clashes
                if set(rule.from_states) & set(self.from_states)
            ]
            if overlap:
                rule, states = overlap[0]
                errors["from_states"] = (
                    f"active rule #{rule.pk} ({rule}) already covers {', '.join(states)} for this room type"
                )
        if errors:
            raise ValidationError(errors)


# PM, repairs and recalls --------------------------------------------------------------------------


class WorkOrderKind(models.TextChoices):
    PM = "pm", _("Planned maintenance")
    REPAIR = "repair", _("Repair")
    CALIBRATION = "calibration", _("Calibration")
    RECALL = "recall", _("Recall")
    ELECTRICAL_SAFETY = "electrical_safety", _("Electrical safety test")
    SCHEDULED = "scheduled", _("Other scheduled maintenance")


class WorkOrderStatus(models.TextChoices):
    OPEN = "open", _("Open")
    IN_PROGRESS = "in_progress", _("In progress")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_WORK_ORDER_STATUSES = (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)


class Recall(models.Model):
    """A manufacturer's recall or field safety notice for one model."""

    ALL_SERIALS = "all"

    reference_number = models.CharField(
        max_length=64,
        unique=True,
        help_text=_("The manufacturer's or FDA reference."),
        verbose_name=_("reference number"),
    )
    manufacturer = models.CharField(max_length=100, verbose_name=_("manufacturer"))
    model = models.CharField(max_length=100, verbose_name=_("model"))
    serial_numbers = models.JSONField(
        default=list,
        help_text=_('Affected serial numbers as a list, or "all" for every unit of the model.'),
        verbose_name=_("serial numbers"),
    )
    description = models.TextField(blank=True, verbose_name=_("description"))
    issued_date = models.DateField(verbose_name=_("issued date"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = gettext_lazy("recall")
        verbose_name_plural = gettext_lazy("recalls")
        ordering = ["-issued_date", "reference_number"]

    def __str__(self):
        return f"{self.reference_number} ({self.manufacturer} {self.model})"

    @property
    def affects_all(self) -> bool:
        return self.serial_numbers == self.ALL_SERIALS

    def clean(self):
        value = self.serial_numbers
        if value == self.ALL_SERIALS:
            return
        if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
            raise ValidationError({"serial_numbers": 'give a non-empty list of serial numbers, or "all"'})


def _work_order_transition(name: str) -> dict:
    """The django-fsm arguments of a work-order transition, read from the policy table."""
    declared = WORK_ORDER_TRANSITIONS[name]
    return {
        "source": list(declared.sources),
        "target": declared.target,
        "permission": StatusTransitionPermission(declared),
    }


class WorkOrder(models.Model):
    """A PM, repair, calibration, recall or safety job on one asset. Its status is a django-fsm state machine
    whose transitions and roles are the policy table's ``WORK_ORDER_TRANSITIONS``; lifecycle.services (and,
    for scheduled work, lifecycle.biomed.services) run them."""

    asset = models.ForeignKey(
        "assets.Asset", on_delete=models.PROTECT, related_name="work_orders", verbose_name=_("asset")
    )
    kind = models.CharField(max_length=20, choices=WorkOrderKind.choices, verbose_name=_("kind"))
    status = FSMField(
        max_length=20,
        choices=WorkOrderStatus.choices,
        default=WorkOrderStatus.OPEN,
        db_index=True,
        verbose_name=_("status"),
    )
    recall = models.ForeignKey(
        Recall, on_delete=models.PROTECT, null=True, blank=True, related_name="work_orders", verbose_name=_("recall")
    )
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("technician"),
    )
    notes = models.TextField(blank=True, verbose_name=_("notes"))
    opened_at = models.DateTimeField(default=timezone.now, verbose_name=_("opened at"))
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))

    class Meta:
        verbose_name = gettext_lazy("work order")
        verbose_name_plural = gettext_lazy("work orders")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset", "recall"], condition=Q(recall__isnull=False), name="one_work_order_per_recall_asset"
            ),
            models.CheckConstraint(
                condition=Q(kind=WorkOrderKind.RECALL, recall__isnull=False)
                | (~Q(kind=WorkOrderKind.RECALL) & Q(recall__isnull=True)),
                name="recall_work_order_has_recall",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OPEN_WORK_ORDER_STATUSES, closed_at__isnull=True)
                | (~Q(status__in=OPEN_WORK_ORDER_STATUSES) & Q(closed_at__isnull=False)),
                name="closed_work_order_has_closed_at",
            ),
        ]
        indexes = [models.Index(fields=["asset", "kind", "status"], name="workorder_asset_kind_status")]

    def __str__(self):
        return f"{self.reference} {self.get_kind_display()} for {self.asset}"

    @property
    def reference(self) -> str:
        return f"WO-{self.pk}" if self.pk else "WO-(new)"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_WORK_ORDER_STATUSES

    # Transitions (declarations.policy.WORK_ORDER_TRANSITIONS). Closing stamps closed_at; the services
    # lock the row, check the roles and record the change.

    @transition(field=status, **_work_order_transition("start"))
    def start(self):
        pass

    @transition(field=status, **_work_order_transition("stop"))
    def stop(self):
        pass

    @transition(field=status, **_work_order_transition("complete"))
    def complete(self, *, at):
        self.closed_at = at

    @transition(field=status, **_work_order_transition("cancel"))
    def cancel(self, *, at):
        self.closed_at = at
