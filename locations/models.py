"""Where things are: sites, buildings, floors, rooms and the BLE receivers on them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_lazy as _

from declarations.room_types import RoomType
from locations.geometry import GeometryError, find_overlaps, polygon_from_geojson


class Site(models.Model):
    code = models.SlugField(max_length=64, unique=True, verbose_name=_("code"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    updated_at = models.DateTimeField(
        auto_now=True, help_text=_("Last change (FHIR meta.lastUpdated)."), verbose_name=_("updated at")
    )
    # The site's radio as the location engine learnt it (docs/location-engine.md, "Method", 6); a restarted
    # engine starts from it.
    radio_path_loss_exponent = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Learnt by the location engine: how fast the signal fades with distance here (the default is 2.2). "
            "Blank: not learnt yet."
        ),
        verbose_name=_("learnt path-loss exponent"),
    )
    radio_wall_loss_db = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text=_("Learnt by the location engine: the signal lost through one wall (the default is 4 dB)."),
        verbose_name=_("learnt loss per wall dB"),
    )

    class Meta:
        verbose_name = gettext_lazy("site")
        verbose_name_plural = gettext_lazy("sites")
        ordering = ["code"]

    def __str__(self):
        return self.name


class Building(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="buildings", verbose_name=_("site"))
    code = models.SlugField(max_length=64, verbose_name=_("code"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    updated_at = models.DateTimeField(
        auto_now=True, help_text=_("Last change (FHIR meta.lastUpdated)."), verbose_name=_("updated at")
    )

    class Meta:
        verbose_name = gettext_lazy("building")
        verbose_name_plural = gettext_lazy("buildings")
        ordering = ["site__code", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="building_code_unique_per_site")]

    def __str__(self):
        return self.name


class Floor(models.Model):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="floors", verbose_name=_("building"))
    code = models.CharField(
        max_length=32, help_text=_("The floor as people say it: 4, 4W, B1."), verbose_name=_("code")
    )
    level = models.IntegerField(
        help_text=_("Vertical order: 0 ground, negative below ground."), verbose_name=_("level")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    updated_at = models.DateTimeField(
        auto_now=True, help_text=_("Last change (FHIR meta.lastUpdated)."), verbose_name=_("updated at")
    )

    class Meta:
        verbose_name = gettext_lazy("floor")
        verbose_name_plural = gettext_lazy("floors")
        ordering = ["building__code", "level"]
        constraints = [models.UniqueConstraint(fields=["building", "code"], name="floor_code_unique_per_building")]

    def __str__(self):
        return f"{self.building.name} · {self.name}"


class Room(models.Model):
    # `site` repeats floor.building.site so that the database enforces one code per site.
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="rooms", editable=False, verbose_name=_("site")
    )
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="rooms", verbose_name=_("floor"))
    code = models.CharField(max_length=64, verbose_name=_("code"))
    name = models.CharField(max_length=200, verbose_name=_("name"))
    room_type = models.CharField(max_length=32, choices=RoomType.choices, db_index=True, verbose_name=_("room type"))
    unit = models.CharField(max_length=64, blank=True, help_text=_("Care unit, e.g. 4 West."), verbose_name=_("unit"))
    polygon = models.JSONField(help_text=_("GeoJSON Polygon geometry in floor metres."), verbose_name=_("polygon"))
    # Derived from the polygon on save; the nearest-equipment search ranks by them.
    centroid_x = models.FloatField(editable=False, default=0.0, verbose_name=_("centroid x"))
    centroid_y = models.FloatField(editable=False, default=0.0, verbose_name=_("centroid y"))
    area_m2 = models.FloatField(editable=False, default=0.0, verbose_name=_("area m2"))
    updated_at = models.DateTimeField(
        auto_now=True, help_text=_("Last change (FHIR meta.lastUpdated)."), verbose_name=_("updated at")
    )

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

    gateway_id = models.CharField(max_length=64, unique=True, verbose_name=_("gateway id"))
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="receivers", verbose_name=_("floor"))
    room = models.ForeignKey(
        Room,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="receivers",
        help_text=_("The room the receiver is mounted in, derived from its position."),
        verbose_name=_("room"),
    )
    x = models.FloatField(help_text=_("metres, floor coordinates"), verbose_name=_("x"))
    y = models.FloatField(help_text=_("metres, floor coordinates"), verbose_name=_("y"))
    rssi_at_1m = models.FloatField(
        help_text=_("Received power at 1 m, dBm (typically -55 to -65)."), verbose_name=_("rssi at 1m")
    )
    path_loss_exponent = models.FloatField(
        null=True, blank=True, help_text=_("Blank: the engine default."), verbose_name=_("path loss exponent")
    )
    height_m = models.FloatField(null=True, blank=True, verbose_name=_("height m"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    last_heard = models.DateTimeField(null=True, blank=True, verbose_name=_("last heard"))
    # What the location engine learnt about this gateway (locations/engine, docs/location-engine.md).
    clock_offset_s = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "The gateway's clock minus the site's consensus clock, estimated from the pings several "
            "gateways hear; the engine subtracts it from the gateway's timestamps. Blank: not estimated yet."
        ),
        verbose_name=_("clock offset s"),
    )
    clock_pairs = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text=_("Copies of pings matched with other gateways behind the estimate."),
        verbose_name=_("clock pairs"),
    )
    clock_estimated_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("clock estimated at")
    )
    calibration_db = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Learnt correction of rssi_at_1m (dB): this receiver hears consistently louder (+) or "
            "quieter (-) than its datasheet value."
        ),
        verbose_name=_("calibration db"),
    )
    detection_floor_dbm = models.FloatField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "Learnt: the gateway reports nothing quieter than this (an RSSI filter in its settings), so "
            "its silence about a tag expected below it says nothing. Blank: it hears down to its sensitivity."
        ),
        verbose_name=_("detection floor dBm"),
    )

    class Meta:
        verbose_name = gettext_lazy("receiver")
        verbose_name_plural = gettext_lazy("receivers")
        ordering = ["gateway_id"]

    def __str__(self):
        return self.gateway_id

    def save(self, *args, **kwargs):
        """A learnt calibration is a correction of the rssi_at_1m it was learnt against: when that changes (an
        administrator enters the measured value, a floor plan import), the correction is dropped, so that a
        restarted engine does not apply it on top of the new value (it relearns what is left)."""
        if self.pk is not None and self.calibration_db is not None:
            before = type(self).objects.filter(pk=self.pk).values_list("rssi_at_1m", flat=True).first()
            if before is not None and before != self.rssi_at_1m:
                self.calibration_db = None
                if kwargs.get("update_fields") is not None:
                    kwargs["update_fields"] = {*kwargs["update_fields"], "calibration_db"}
        super().save(*args, **kwargs)


class RoomInterval(models.Model):
    """One stay of one asset in one room: the location history (docs/design.md §5).

    The location pipeline writes these when the engine's smoothed room changes, never one row per
    sighting. An open interval (left_at null) is the asset's current stay; there is at most one.
    """

    asset = models.ForeignKey(
        "assets.Asset", on_delete=models.CASCADE, related_name="room_intervals", verbose_name=_("asset")
    )
    # PROTECT: deleting a room must not silently rewrite where equipment has been.
    room = models.ForeignKey(Room, on_delete=models.PROTECT, related_name="intervals", verbose_name=_("room"))
    entered_at = models.DateTimeField(
        help_text=_("Event time the engine placed the asset in the room."), verbose_name=_("entered at")
    )
    left_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Empty while the asset is still there."), verbose_name=_("left at")
    )

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

    key = models.CharField(max_length=16, unique=True, editable=False, verbose_name=_("key"))
    token_hash = models.CharField(
        max_length=64, editable=False, help_text=_("SHA-256 of the whole token, hex."), verbose_name=_("token hash")
    )
    receiver = models.ForeignKey(
        Receiver,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="tokens",
        help_text=_("The one gateway this token may post for."),
        verbose_name=_("receiver"),
    )
    site = models.ForeignKey(
        Site,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="collector_tokens",
        help_text=_("A site collector token may post for any gateway of this site."),
        verbose_name=_("site"),
    )
    label = models.CharField(max_length=200, blank=True, verbose_name=_("label"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("revoked at"))

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

    created_at = models.DateTimeField(db_index=True, verbose_name=_("created at"))
    # [[asset_id, from_room_id or null, to_room_id, entered_at ISO 8601], ...] in event-time order
    room_changes = models.JSONField(default=list, blank=True, verbose_name=_("room changes"))
    # [[tag_id, asset_id or null, battery_percent or null, heard_at ISO 8601], ...]
    tag_reports = models.JSONField(default=list, blank=True, verbose_name=_("tag reports"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, verbose_name=_("last error"))

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["id"], condition=models.Q(processed_at__isnull=True), name="locationoutbox_pending")
        ]

    def __str__(self):
        return f"outbox #{self.pk}: {len(self.room_changes)} room changes, {len(self.tag_reports)} tag reports"
