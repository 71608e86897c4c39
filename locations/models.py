"""Where things are: sites, buildings, floors, rooms and the BLE receivers on them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy

from declarations.room_types import RoomType
from locations.geometry import GeometryError, find_overlaps, polygon_from_geojson


class Site(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last change (FHIR meta.lastUpdated).")

    class Meta:
        verbose_name = gettext_lazy("site")
        verbose_name_plural = gettext_lazy("sites")
        ordering = ["code"]

    def __str__(self):
        return self.name


class Building(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="buildings")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last change (FHIR meta.lastUpdated).")

    class Meta:
        verbose_name = gettext_lazy("building")
        verbose_name_plural = gettext_lazy("buildings")
        ordering = ["site__code", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="building_code_unique_per_site")]

    def __str__(self):
        return self.name


class Floor(models.Model):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="floors")
    code = models.CharField(max_length=32, help_text="The floor as people say it: 4, 4W, B1.")
    level = models.IntegerField(help_text="Vertical order: 0 ground, negative below ground.")
    name = models.CharField(max_length=200)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last change (FHIR meta.lastUpdated).")

    class Meta:
        verbose_name = gettext_lazy("floor")
        verbose_name_plural = gettext_lazy("floors")
        ordering = ["building__code", "level"]
        constraints = [models.UniqueConstraint(fields=["building", "code"], name="floor_code_unique_per_building")]

    def __str__(self):
        return f"{self.building.name} · {self.name}"


class Room(models.Model):
    # `site` repeats floor.building.site so that the database enforces one code per site.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="rooms", editable=False)
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="rooms")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    room_type = models.CharField(max_length=32, choices=RoomType.choices, db_index=True)
    unit = models.CharField(max_length=64, blank=True, help_text="Care unit, e.g. 4 West.")
    polygon = models.JSONField(help_text="GeoJSON Polygon geometry in floor metres.")
    # Derived from the polygon on save; the nearest-equipment search ranks by them.
    centroid_x = models.FloatField(editable=False, default=0.0)
    centroid_y = models.FloatField(editable=False, default=0.0)
    area_m2 = models.FloatField(editable=False, default=0.0)
    updated_at = models.DateTimeField(auto_now=True, help_text="Last change (FHIR meta.lastUpdated).")

    class Meta:
        verbose_name = gettext_lazy("room")
        verbose_name_plural = gettext_lazy("rooms")
        ordering = ["site__code", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="room_code_unique_per_site")]

    def __str__(self):
        return f"{self.code} {self.name}"

    def save(self, *args, **kwargs):
        polygon = self.shape()
        self.centroid_x, self.centroid_y = polygon.centroid.x, polygon.centroid.y
        self.area_m2 = polygon.area
        self.site_id = self.floor.building.site_id
        super().save(*args, **kwargs)

    def shape(self):
        return polygon_from_geojson(self.polygon)

    def clean(self):
        try:
            polygon = self.shape()
        except GeometryError as exc:
            raise ValidationError({"polygon": str(exc)}) from None
        if self.floor_id is None:
            return
        self.site_id = self.floor.building.site_id
        duplicate = Room.objects.filter(site_id=self.site_id, code=self.code).exclude(pk=self.pk)
        if self.code and duplicate.exists():
            raise ValidationError({"code": f"room code {self.code} is already used on this site"})
        neighbours = [
            (room.code, room.shape()) for room in Room.objects.filter(floor_id=self.floor_id).exclude(pk=self.pk)
        ]
        overlaps = [
            o
            for o in find_overlaps([(self.code, polygon), *neighbours], tolerance_m2=settings.ROOM_OVERLAP_TOLERANCE_M2)
            if self.code in (o.first, o.second)
        ]
        if overlaps:
            raise ValidationError({"polygon": "; ".join(str(o) for o in overlaps)})


class Receiver(models.Model):
    """A fixed BLE gateway that hears tags. Its id is the `gateway` of a sightings batch."""

    gateway_id = models.CharField(max_length=64, unique=True)
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="receivers")
    room = models.ForeignKey(
        Room,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="receivers",
        help_text="The room the receiver is mounted in, derived from its position.",
    )
    x = models.FloatField(help_text="metres, floor coordinates")
    y = models.FloatField(help_text="metres, floor coordinates")
    rssi_at_1m = models.FloatField(help_text="Received power at 1 m, dBm (typically -55 to -65).")
    path_loss_exponent = models.FloatField(null=True, blank=True, help_text="Blank: the engine default.")
    height_m = models.FloatField(null=True, blank=True)
    active = models.BooleanField(default=True)
    last_heard = models.DateTimeField(null=True, blank=True)
    # What the location engine learnt about this gateway (locations/engine, docs/location-engine.md).
    clock_offset_s = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="The gateway's clock minus the site's consensus clock, estimated from the pings several "
        "gateways hear; the engine subtracts it from the gateway's timestamps. Blank: not estimated yet.",
    )
    clock_pairs = models.PositiveIntegerField(
        default=0, editable=False, help_text="Copies of pings matched with other gateways behind the estimate."
    )
    clock_estimated_at = models.DateTimeField(null=True, blank=True, editable=False)
    calibration_db = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text="Learnt correction of rssi_at_1m (dB): this receiver hears consistently louder (+) or "
        "quieter (-) than its datasheet value.",
    )

    class Meta:
        verbose_name = gettext_lazy("receiver")
        verbose_name_plural = gettext_lazy("receivers")
        ordering = ["gateway_id"]

    def __str__(self):
        return self.gateway_id


class RoomInterval(models.Model):
    """One stay of one asset in one room: the location history (docs/design.md §5).

    The location pipeline writes these when the engine's smoothed room changes, never one row per
    sighting. An open interval (left_at null) is the asset's current stay; there is at most one.
    """

    asset = models.ForeignKey("assets.Asset", on_delete=models.CASCADE, related_name="room_intervals")
    # PROTECT: deleting a room must not silently rewrite where equipment has been.
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="intervals")
    entered_at = models.DateTimeField(help_text="Event time the engine placed the asset in the room.")
    left_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the asset is still there.")

    class Meta:
        verbose_name = gettext_lazy("room interval")
        verbose_name_plural = gettext_lazy("room intervals")
        ordering = ["asset_id", "entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["asset"], condition=models.Q(left_at__isnull=True), name="one_open_room_interval_per_asset"
            ),
            models.CheckConstraint(
                condition=models.Q(left_at__isnull=True) | models.Q(left_at__gte=models.F("entered_at")),
                name="room_interval_leaves_after_entering",
            ),
        ]
        indexes = [
            models.Index(fields=["asset", "entered_at"], name="roominterval_asset_entered"),
            models.Index(fields=["room", "entered_at"], name="roominterval_room_entered"),
            models.Index(fields=["entered_at"], name="roominterval_entered"),
            models.Index(fields=["left_at"], name="roominterval_left"),
        ]

    def __str__(self):
        return f"{self.asset_id} in {self.room_id} from {self.entered_at:%Y-%m-%d %H:%M:%S}"


class GatewayToken(models.Model):
    """A credential that lets one gateway, or any gateway of one site (a site collector), post sightings.

    Only the SHA-256 of the token is stored; the token itself is shown once, when it is issued
    (``manage.py issue_gateway_token``). ``key`` is the public part of the token, used to find the row
    so that the secret part is compared in constant time. Gateway tokens are not user accounts: they
    only open the sightings endpoint (locations/ingest/auth.py).
    """

    key = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the whole token, hex.")
    receiver = models.ForeignKey(
        Receiver,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tokens",
        help_text="The one gateway this token may post for.",
    )
    site = models.ForeignKey(
        Site,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="collector_tokens",
        help_text="A site collector token may post for any gateway of this site.",
    )
    label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = gettext_lazy("gateway token")
        verbose_name_plural = gettext_lazy("gateway tokens")
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(receiver__isnull=False, site__isnull=True)
                | models.Q(receiver__isnull=True, site__isnull=False),
                name="gateway_token_for_one_gateway_or_one_site",
            )
        ]

    def __str__(self):
        scope = f"gateway {self.receiver}" if self.receiver_id else f"site {self.site}"
        return f"gwt_{self.key}… ({scope})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LocationOutbox(models.Model):
    """What one pipeline commit changed, for the lifecycle work (room-type rules, alerts, webhooks).

    Written by the location pipeline in the SAME transaction as the room changes it describes, so a change
    is never committed without its row, nor a row without its change. A consumer (``lifecycle.outbox``:
    in-process in the embedded default, ``manage.py consume_location_outbox`` in production) applies each
    row once, in id order, and marks it processed in the transaction that applied it: exactly once,
    whatever crashes in between.
    """

    created_at = models.DateTimeField(db_index=True)
    # [[asset_id, from_room_id or null, to_room_id, entered_at ISO 8601], ...] in event-time order
    room_changes = models.JSONField(default=list, blank=True)
    # [[tag_id, asset_id or null, battery_percent or null, heard_at ISO 8601], ...]
    tag_reports = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["id"], condition=models.Q(processed_at__isnull=True), name="locationoutbox_pending")
        ]

    def __str__(self):
        return f"outbox #{self.pk}: {len(self.room_changes)} room changes, {len(self.tag_reports)} tag reports"
