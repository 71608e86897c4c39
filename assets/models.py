"""What is tracked: asset types, assets, BLE tags and which tag is on which asset."""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField, FSMModelMixin, transition

from assets.codings import type_coding_problems
from assets.fields import TagIdField
from config.access import PolicyPermission
from declarations.choices import EncryptionStatus, RiskClass
from declarations.guards import DECOMMISSION_READY, IS_LOCATED, IS_SERVICEABLE
from declarations.policy import TRANSITION_ACTIONS
from declarations.states import AssetState
from declarations.tag_ids import format_tag_id


def _may(transition: str) -> PolicyPermission:
    """Who may run a transition: the policy table's row for it (declarations/policy.py)."""
    return PolicyPermission(TRANSITION_ACTIONS[transition])


NOT_RETIRED = [s for s in AssetState if s != AssetState.DECOMMISSIONED]

# What a decommissioning sign-off and the certificate say about the asset (decommissioning selectors'
# asset_identity): frozen once a decommissioning checklist is opened.
IDENTITY_FIELDS = (
    "asset_tag",
    "asset_type",
    "manufacturer",
    "model",
    "serial_number",
    "unit",
    "firmware_version",
    "risk_class",
    "data_bearing",
    "networked",
)


# An asset's in-service and purchase dates: anything outside is a typo (9999-12-01), and a schedule's next due
# date counted from it would not be a date at all (lifecycle.biomed.models.add_interval).
ASSET_DATE_RANGE = (date(1900, 1, 1), date(2100, 12, 31))


def asset_date_problem(value: date | None) -> str | None:
    """Why ``value`` cannot be an asset's date (ASSET_DATE_RANGE), or None. The admin form and the import use it."""
    low, high = ASSET_DATE_RANGE
    if value is None or low <= value <= high:
        return None
    return gettext("%(date)s is not between %(low)s and %(high)s") % {
        "date": value.isoformat(),
        "low": low.isoformat(),
        "high": high.isoformat(),
    }


class AssetIdentityFrozen(ValidationError):
    """An edit of an asset's identity after its decommissioning checklist was opened."""

    reason = "frozen: a decommissioning checklist is open for this asset and its sign-offs cover this field"

    def __init__(self, asset, fields: list[str]):
        self.fields = list(fields)
        super().__init__(f"cannot change {', '.join(fields)} of asset {asset}: {self.reason}", code="identity_frozen")


class AssetType(models.Model):
    name = models.CharField(max_length=100, unique=True, verbose_name=_("name"))
    slug = models.SlugField(max_length=100, unique=True, verbose_name=_("slug"))
    default_pm_interval_days = models.PositiveIntegerField(
        default=365,
        help_text=_("Days between planned maintenance, unless an asset overrides it."),
        verbose_name=_("default pm interval days"),
    )
    # Optional coding (FHIR Device.type, docs/fhir.md): SNOMED CT for the demo types.
    code_system = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Code system URI, e.g. http://snomed.info/sct; blank: no coding."),
        verbose_name=_("code system"),
    )
    code = models.CharField(
        max_length=64, blank=True, help_text=_("e.g. the SNOMED CT concept id 58938008."), verbose_name=_("code")
    )
    code_display = models.CharField(
        max_length=200, blank=True, help_text=_("The code's display, e.g. Wheelchair."), verbose_name=_("code display")
    )
    # Classification (docs/biomed.md): life-support equipment is high-risk too.
    high_risk = models.BooleanField(
        default=False,
        # xgettext:no-python-format
        help_text=_("High-risk equipment: maintenance must be 100 % on time."),
        verbose_name=_("high risk"),
    )
    life_support = models.BooleanField(
        default=False, help_text=_("Life-support equipment (high-risk)."), verbose_name=_("life support")
    )

    class Meta:
        verbose_name = gettext_lazy("asset type")
        verbose_name_plural = gettext_lazy("asset types")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        problems = type_coding_problems(system=self.code_system, code=self.code, display=self.code_display)
        if problems:
            raise ValidationError(problems)


class Asset(FSMModelMixin, models.Model):
    """A tracked piece of equipment.

    Its lifecycle ``state`` changes only through the transitions below, and those are run only by
    ``lifecycle.services.asset_transition`` (row lock, role check, guards, log, live update). The
    transition methods are guards and targets, nothing else.
    """

    # Identity
    asset_tag = models.CharField(
        max_length=64, unique=True, help_text=_("The hospital's inventory number."), verbose_name=_("asset tag")
    )
    asset_type = models.ForeignKey(
        AssetType, on_delete=models.PROTECT, related_name="assets", verbose_name=_("asset type")
    )
    manufacturer = models.CharField(max_length=100, verbose_name=_("manufacturer"))
    model = models.CharField(max_length=100, verbose_name=_("model"))
    serial_number = models.CharField(max_length=100, blank=True, db_index=True, verbose_name=_("serial number"))
    unit = models.CharField(
        max_length=64, blank=True, help_text=_("Owning care unit or department."), verbose_name=_("unit")
    )

    # Security: what a decommissioning has to deal with.
    data_bearing = models.BooleanField(
        default=False, help_text=_("Stores data that must be sanitized at retirement."), verbose_name=_("data bearing")
    )
    networked = models.BooleanField(default=False, verbose_name=_("networked"))
    encryption_status = models.CharField(
        max_length=20,
        choices=EncryptionStatus.choices,
        default=EncryptionStatus.UNKNOWN,
        verbose_name=_("encryption status"),
    )
    firmware_version = models.CharField(max_length=64, blank=True, verbose_name=_("firmware version"))
    risk_class = models.CharField(
        max_length=10, choices=RiskClass.choices, default=RiskClass.LOW, verbose_name=_("risk class")
    )
    # Classification (docs/biomed.md): blank high_risk / life_support follow the asset type.
    high_risk = models.BooleanField(
        null=True, blank=True, help_text=_("Blank: as its type (or risk class high)."), verbose_name=_("high risk")
    )
    life_support = models.BooleanField(
        null=True, blank=True, help_text=_("Blank: as its type."), verbose_name=_("life support")
    )
    aem = models.BooleanField(
        _("alternative equipment maintenance"), default=False, help_text=_("Maintained under an AEM programme.")
    )
    aem_rationale = models.TextField(
        blank=True, help_text=_("Why AEM is safe for this device (required with AEM)."), verbose_name=_("aem rationale")
    )

    in_service_date = models.DateField(null=True, blank=True, verbose_name=_("in service date"))
    purchase_date = models.DateField(null=True, blank=True, verbose_name=_("purchase date"))

    # Current location, written by the location engine only.
    current_room = models.ForeignKey(
        "locations.Room",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="current_assets",
        verbose_name=_("current room"),
    )
    location_confidence = models.FloatField(
        null=True, blank=True, help_text=_("0..1"), verbose_name=_("location confidence")
    )
    located_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When the current room was decided."), verbose_name=_("located at")
    )
    position_x = models.FloatField(
        null=True, blank=True, help_text=_("Trilaterated x, floor metres."), verbose_name=_("position x")
    )
    position_y = models.FloatField(
        null=True, blank=True, help_text=_("Trilaterated y, floor metres."), verbose_name=_("position y")
    )
    position_radius_m = models.FloatField(
        null=True, blank=True, help_text=_("Uncertainty radius, metres."), verbose_name=_("position radius m")
    )
    last_seen = models.DateTimeField(
        null=True,
        blank=True,
        db_index=True,
        help_text=_("Event time of the last sighting."),
        verbose_name=_("last seen"),
    )

    # Lifecycle (docs/states.md, docs/lifecycle.md). Protected: nothing assigns it; transitions change it.
    state = FSMField(
        default=AssetState.AVAILABLE, choices=AssetState.choices, protected=True, db_index=True, verbose_name=_("state")
    )
    pm_interval_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Days between planned maintenance; blank: the asset type's interval."),
        verbose_name=_("pm interval days"),
    )
    last_pm_date = models.DateField(
        null=True, blank=True, help_text=_("Set when a PM work order is completed."), verbose_name=_("last pm date")
    )

    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = gettext_lazy("asset")
        verbose_name_plural = gettext_lazy("assets")
        ordering = ["asset_tag"]
        # The nearest-available search (lifecycle.nearest.assets_nearest_available) and the API's filters:
        # one type, one state, seen since a cut-off.
        indexes = [models.Index(fields=["asset_type", "state", "last_seen"], name="asset_type_state_seen")]

    def __str__(self):
        return self.asset_tag

    def save(self, *args, **kwargs):
        # Only the lifecycle services write `state` (update_fields=["state", ...]). Any other save of an
        # existing asset leaves the column alone, so a stale copy (the location engine's, an admin
        # form's) can never undo a transition committed meanwhile.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "state"
            ]
        frozen = self.frozen_identity_changes(kwargs.get("update_fields"))
        if frozen:
            raise AssetIdentityFrozen(self, frozen)
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        frozen = self.frozen_identity_changes()
        if frozen:
            raise ValidationError({name: AssetIdentityFrozen.reason for name in frozen})
        dates = {name: asset_date_problem(getattr(self, name)) for name in ("in_service_date", "purchase_date")}
        if any(dates.values()):
            raise ValidationError({name: problem for name, problem in dates.items() if problem})
        # Classification (docs/biomed.md): AEM needs its rationale, and never for life-support equipment.
        if self.aem and not (self.aem_rationale or "").strip():
            raise ValidationError({"aem_rationale": "alternative equipment maintenance needs its rationale"})
        if self.aem and (
            self.life_support or (self.life_support is None and self.asset_type_id and self.asset_type.life_support)
        ):
            raise ValidationError({"aem": "life-support equipment cannot be maintained under an AEM programme"})

    def frozen_identity_changes(self, update_fields=None) -> list[str]:
        """The identity fields (IDENTITY_FIELDS) this unsaved copy changes although they are frozen: once a
        decommissioning checklist is opened, the sign-offs and the certificate cover the asset's identity
        as it was (docs/decommissioning.md), so it can no longer be edited."""
        if self._state.adding or self.pk is None or getattr(self, "_identity_checked_without_checklist", False):
            return []
        names = [
            name
            for name in IDENTITY_FIELDS
            if update_fields is None or name in update_fields or f"{name}_id" in update_fields
        ]
        if not names:
            return []
        # The checklist (lifecycle.decommissioning) is reached through its reverse relation, by name.
        if not type(self).objects.filter(pk=self.pk, decommissioning_checklist__isnull=False).exists():
            return []
        columns = [self._meta.get_field(name).attname for name in names]
        stored = type(self).objects.filter(pk=self.pk).values(*columns).first() or {}
        return [
            name for name, column in zip(names, columns, strict=True) if stored.get(column) != getattr(self, column)
        ]

    # Planned maintenance: the schedules (lifecycle.biomed: PM, calibration, safety tests) replaced the single PM
    # interval; the columns pm_interval_days and last_pm_date (and AssetType.default_pm_interval_days) were
    # migrated into them (biomed migration 0002) and are no longer read. When maintenance is due:
    # lifecycle.biomed.selectors.asset_next_due and asset_overdue_schedules.

    # State machine (docs/lifecycle.md) ------------------------------------------------------------

    @transition(
        field=state,
        source=AssetState.AVAILABLE,
        target=AssetState.RESERVED,
        conditions=[IS_LOCATED, IS_SERVICEABLE],
        permission=_may("reserve"),
    )
    def reserve(self):
        """A dispatch request claims it; only located equipment can be promised."""

    @transition(
        field=state,
        source=AssetState.RESERVED,
        target=AssetState.AVAILABLE,
        conditions=[IS_SERVICEABLE],
        permission=_may("release"),
    )
    def release(self):
        """The request is cancelled; the asset is free again (unless PM or a recall came due meanwhile)."""

    @transition(
        field=state,
        source=AssetState.RESERVED,
        target=AssetState.IN_USE,
        conditions=[IS_SERVICEABLE],
        permission=_may("deliver"),
    )
    def deliver(self):
        """Delivered to the requesting unit and put to use: not once a schedule fell overdue while reserved
        (it cannot be released either; send it to biomed)."""

    @transition(
        field=state,
        source=AssetState.AVAILABLE,
        target=AssetState.IN_USE,
        conditions=[IS_SERVICEABLE],
        permission=_may("start_use"),
    )
    def start_use(self):
        """Taken for a patient or a procedure."""

    @transition(field=state, source=AssetState.IN_USE, target=AssetState.SOILED, permission=_may("return"))
    def return_(self):
        """Back from the patient, to be reprocessed. (The method is `return_`: `return` is a Python keyword.)"""

    @transition(field=state, source=AssetState.SOILED, target=AssetState.CLEANING, permission=_may("start_cleaning"))
    def start_cleaning(self):
        """Reprocessing starts."""

    @transition(
        field=state,
        source=AssetState.CLEANING,
        target=RETURN_VALUE(AssetState.AVAILABLE, AssetState.BIOMED),
        permission=_may("finish_cleaning"),
        custom={"guard": "to biomed instead of available when PM is overdue or a recall work order is open"},
    )
    def finish_cleaning(self):
        """Clean again: available, or biomed when PM is overdue or a recall work order is open."""
        return AssetState.AVAILABLE if IS_SERVICEABLE(self) else AssetState.BIOMED

    @transition(
        field=state,
        source=[s for s in NOT_RETIRED if s != AssetState.BIOMED],
        target=AssetState.BIOMED,
        permission=_may("send_to_biomed"),
        custom={"guard": "a reason is required"},
    )
    def send_to_biomed(self):
        """Anyone can take a suspect device out of service; the reason is required (the service checks it)."""

    @transition(
        field=state,
        source=AssetState.BIOMED,
        target=RETURN_VALUE(AssetState.AVAILABLE, AssetState.SOILED),
        conditions=[IS_SERVICEABLE],
        permission=_may("return_to_service"),
    )
    def return_to_service(self, to_state=AssetState.AVAILABLE):
        """Work done: available, or soiled when it must be reprocessed first."""
        return to_state

    @transition(
        field=state,
        source=AssetState.BIOMED,
        target=AssetState.DECOMMISSIONED,
        conditions=[DECOMMISSION_READY],
        permission=_may("decommission"),
    )
    def decommission(self):
        """Retired for good, once the checklist is complete and both sign-offs are valid."""

    @transition(
        field=state,
        source=[s for s in NOT_RETIRED if s not in (AssetState.BIOMED, AssetState.RESERVED)],
        target=RETURN_VALUE(AssetState.SOILED, AssetState.CLEANING, AssetState.BIOMED),
        permission=_may("apply_room_rule"),
        custom={"guard": "only takes availability away; runs the guards of the transition that normally leads there"},
    )
    def apply_room_rule(self, to_state):
        """A room-type rule (lifecycle.RoomTypeRule) moved it: e.g. found in a soiled utility room."""
        return to_state


class Tag(models.Model):
    tag_id = TagIdField(
        unique=True, help_text=_("12 hex digits; any case and separators are accepted."), verbose_name=_("tag id")
    )
    asset = models.OneToOneField(
        Asset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tag",
        help_text=_("Bound asset. Change it through bind/unbind so the history is kept."),
        verbose_name=_("asset"),
    )
    battery_percent = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("battery percent"))
    last_seen = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen"))
    registered_at = models.DateTimeField(auto_now_add=True, verbose_name=_("registered at"))

    class Meta:
        verbose_name = gettext_lazy("tag")
        verbose_name_plural = gettext_lazy("tags")
        ordering = ["tag_id"]

    def __str__(self):
        return format_tag_id(self.tag_id)


class TagBinding(models.Model):
    """History of which tag was on which asset. An open binding has no unbound_at."""

    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="bindings", verbose_name=_("tag"))
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="tag_bindings", verbose_name=_("asset"))
    bound_at = models.DateTimeField(verbose_name=_("bound at"))
    bound_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("bound by"),
    )
    unbound_at = models.DateTimeField(null=True, blank=True, verbose_name=_("unbound at"))
    unbound_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("unbound by"),
    )

    class Meta:
        verbose_name = gettext_lazy("tag binding")
        verbose_name_plural = gettext_lazy("tag bindings")
        ordering = ["-bound_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tag"], condition=Q(unbound_at__isnull=True), name="one_open_binding_per_tag"
            ),
            models.UniqueConstraint(
                fields=["asset"], condition=Q(unbound_at__isnull=True), name="one_open_binding_per_asset"
            ),
        ]

    def __str__(self):
        return f"{self.tag} on {self.asset}"
