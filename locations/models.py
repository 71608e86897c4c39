"""Where things are: sites, buildings, floors, rooms and the BLE receivers on them."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from locations.choices import RoomType
from locations.geometry import GeometryError, find_overlaps, polygon_from_geojson


class Site(models.Model):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return self.name


class Building(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="buildings")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site__code", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="building_code_unique_per_site")]

    def __str__(self):
        return self.name


class Floor(models.Model):
    building = models.ForeignKey(Building, on_delete=models.PROTECT, related_name="floors")
    code = models.CharField(max_length=32, help_text="The floor as people say it: 4, 4W, B1.")
    level = models.IntegerField(help_text="Vertical order: 0 ground, negative below ground.")
    name = models.CharField(max_length=200)

    class Meta:
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

    class Meta:
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

    class Meta:
        ordering = ["gateway_id"]

    def __str__(self):
        return self.gateway_id
