"""Par levels (how much equipment a care unit should have on hand) and the alerts the system raises."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from lifecycle.alerts.choices import OPEN_STATUSES, SUBJECT_FIELD, SUBJECT_FIELDS, AlertKind, AlertStatus
from locations.models import Room


class ParLevel(models.Model):
    """How many available, located assets of one type a care unit should have in its rooms.

    Counted by where the equipment physically is (the current room's unit), not by which unit
    owns it (Asset.unit): a nurse needs a pump that is on the floor now.
    """

    unit = models.CharField(
        max_length=64, help_text=_("Care unit, exactly as on the rooms' unit, e.g. 4 North."), verbose_name=_("unit")
    )
    asset_type = models.ForeignKey(
        "assets.AssetType", on_delete=models.PROTECT, related_name="par_levels", verbose_name=_("asset type")
    )
    target = models.PositiveIntegerField(
        help_text=_("How many the unit should have available on hand."), verbose_name=_("target")
    )
    critical = models.PositiveIntegerField(
        help_text=_("Raise an alert when fewer than this many are available and located in the unit's rooms."),
        verbose_name=_("critical"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("par level")
        verbose_name_plural = gettext_lazy("par levels")
        ordering = ["unit", "asset_type__name"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "asset_type"], name="par_level_unique_per_unit_and_type"),
            models.CheckConstraint(
                condition=Q(critical__lte=F("target")),
                name="par_level_critical_at_most_target",
                violation_error_message="The critical threshold cannot be above the target.",
            ),
        ]

    def __str__(self):
        return f"{self.unit}: {self.asset_type} (target {self.target}, critical {self.critical})"

    def clean(self):
        self.unit = (self.unit or "").strip()
        errors = {}
        if self.critical is not None and self.target is not None and self.critical > self.target:
            errors["critical"] = f"The critical threshold ({self.critical}) cannot be above the target ({self.target})."
        if self.unit and not Room.objects.filter(unit=self.unit).exists():
            # A typo would otherwise count zero forever and keep a critical alert open.
            known = sorted(set(Room.objects.exclude(unit="").values_list("unit", flat=True)))
            errors["unit"] = (
                f"No room belongs to unit {self.unit!r}. Known units: {', '.join(known)}."
                if known
                else f"No room belongs to unit {self.unit!r}: import the floor plans first."
            )
        if errors:
            raise ValidationError(errors)


class AlertQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)


def _subject_matches_kind() -> Q:
    """Each kind names exactly one subject, through the foreign key of its kind; the others are empty."""
    condition = Q()
    for kind, field in SUBJECT_FIELD.items():
        only_this = Q(kind=kind.value, **{f"{field}__isnull": False})
        for other in SUBJECT_FIELDS:
            if other != field:
                only_this &= Q(**{f"{other}__isnull": True})
        condition |= only_this
    return condition


class Alert(models.Model):
    """Something staff should act on. At most one open alert per subject and kind.

    The subject is an explicit nullable foreign key per kind of thing (asset, tag, par level,
    receiver) rather than a generic relation: the database keeps referential integrity, the admin
    and the map can join to it, and the "one open alert" rule is a plain partial unique index.
    """

    kind = models.CharField(max_length=32, choices=AlertKind.choices, db_index=True, verbose_name=_("kind"))
    status = models.CharField(
        max_length=16, choices=AlertStatus.choices, default=AlertStatus.NEW, db_index=True, verbose_name=_("status")
    )

    asset = models.ForeignKey(
        "assets.Asset", on_delete=models.CASCADE, null=True, blank=True, related_name="alerts", verbose_name=_("asset")
    )
    tag = models.ForeignKey(
        "assets.Tag", on_delete=models.CASCADE, null=True, blank=True, related_name="alerts", verbose_name=_("tag")
    )
    par_level = models.ForeignKey(
        ParLevel, on_delete=models.CASCADE, null=True, blank=True, related_name="alerts", verbose_name=_("par level")
    )
    receiver = models.ForeignKey(
        "locations.Receiver",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name=_("receiver"),
    )

    message = models.TextField(help_text=_("What was wrong when the alert was raised."), verbose_name=_("message"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))

    acknowledged_at = models.DateTimeField(null=True, blank=True, verbose_name=_("acknowledged at"))
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    auto_resolved = models.BooleanField(
        default=False,
        help_text=_("Resolved by the system when its condition cleared."),
        verbose_name=_("auto resolved"),
    )

    objects = AlertQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("alert")
        verbose_name_plural = gettext_lazy("alerts")
        ordering = ["-created_at", "-pk"]
        constraints = [
            *(
                models.UniqueConstraint(
                    fields=["kind", field],
                    condition=Q(status__in=OPEN_STATUSES),
                    name=f"alert_one_open_per_kind_and_{field}",
                    violation_error_message=f"This {field.replace('_', ' ')} already has an open alert of this kind.",
                )
                for field in SUBJECT_FIELDS
            ),
            models.CheckConstraint(condition=_subject_matches_kind(), name="alert_subject_matches_kind"),
            models.CheckConstraint(
                condition=(
                    Q(status=AlertStatus.NEW.value, acknowledged_at__isnull=True, resolved_at__isnull=True)
                    | Q(status=AlertStatus.ACKNOWLEDGED.value, acknowledged_at__isnull=False, resolved_at__isnull=True)
                    | Q(status=AlertStatus.RESOLVED.value, resolved_at__isnull=False)
                ),
                name="alert_status_has_its_times",
            ),
        ]

    def __str__(self):
        return f"#{self.pk} {self.get_kind_display()}: {self.subject}"

    @property
    def subject(self):
        return getattr(self, AlertKind(self.kind).subject_field)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def resolved_by_label(self) -> str:
        if self.status != AlertStatus.RESOLVED:
            return ""
        if self.auto_resolved:
            return "auto"
        return str(self.resolved_by) if self.resolved_by else "(deleted user)"
