"""What is tracked: asset types, assets, BLE tags and which tag is on which asset."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from assets.choices import EncryptionStatus, RiskClass
from assets.fields import TagIdField
from assets.tag_ids import format_tag_id


class AssetType(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    default_pm_interval_days = models.PositiveIntegerField(
        default=365, help_text="Days between planned maintenance, unless an asset overrides it."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Asset(models.Model):
    # Identity
    asset_tag = models.CharField(max_length=64, unique=True, help_text="The hospital's inventory number.")
    asset_type = models.ForeignKey(AssetType, on_delete=models.PROTECT, related_name="assets")
    manufacturer = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    serial_number = models.CharField(max_length=100, blank=True, db_index=True)
    unit = models.CharField(max_length=64, blank=True, help_text="Owning care unit or department.")

    # Security: what a decommissioning has to deal with.
    data_bearing = models.BooleanField(default=False, help_text="Stores data that must be sanitized at retirement.")
    networked = models.BooleanField(default=False)
    encryption_status = models.CharField(
        max_length=20, choices=EncryptionStatus.choices, default=EncryptionStatus.UNKNOWN
    )
    firmware_version = models.CharField(max_length=64, blank=True)
    risk_class = models.CharField(max_length=10, choices=RiskClass.choices, default=RiskClass.LOW)

    in_service_date = models.DateField(null=True, blank=True)
    purchase_date = models.DateField(null=True, blank=True)

    # Current location, written by the location engine only.
    current_room = models.ForeignKey(
        "locations.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="current_assets"
    )
    location_confidence = models.FloatField(null=True, blank=True, help_text="0..1")
    located_at = models.DateTimeField(null=True, blank=True, help_text="When the current room was decided.")
    position_x = models.FloatField(null=True, blank=True, help_text="Trilaterated x, floor metres.")
    position_y = models.FloatField(null=True, blank=True, help_text="Trilaterated y, floor metres.")
    position_radius_m = models.FloatField(null=True, blank=True, help_text="Uncertainty radius, metres.")
    last_seen = models.DateTimeField(null=True, blank=True, db_index=True, help_text="Event time of the last sighting.")

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset_tag"]

    def __str__(self):
        return self.asset_tag


class Tag(models.Model):
    tag_id = TagIdField(unique=True, help_text="12 hex digits; any case and separators are accepted.")
    asset = models.OneToOneField(
        Asset,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tag",
        help_text="Bound asset. Change it through bind/unbind so the history is kept.",
    )
    battery_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    registered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tag_id"]

    def __str__(self):
        return format_tag_id(self.tag_id)


class TagBinding(models.Model):
    """History of which tag was on which asset. An open binding has no unbound_at."""

    tag = models.ForeignKey(Tag, on_delete=models.PROTECT, related_name="bindings")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="tag_bindings")
    bound_at = models.DateTimeField()
    bound_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unbound_at = models.DateTimeField(null=True, blank=True)
    unbound_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
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
