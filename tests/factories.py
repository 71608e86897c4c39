"""factory-boy factories for the domain model, and the one hospital builder the tests share.

Rooms made by ``RoomFactory`` alone are laid out on a grid so they never overlap. A test that needs a
hospital (site, buildings, floors, rooms at known places, receivers, asset types) declares its plan and
calls ``build_hospital``; the suites' fixtures (tests/api, tests/admin, tests/map, the location pipeline's
ward in tests/locations/sim_hospital.py) are such plans.
"""

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from assets.models import Asset, AssetType, Tag
from declarations.room_types import RoomType
from declarations.states import AssetState
from lifecycle.biomed.models import MaintenanceSchedule
from locations.models import Building, Floor, Receiver, Room, Site

_room_slots = itertools.count()


def square(x: float, y: float, size: float = 4.0) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]],
    }


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"site-{n}")
    name = factory.Sequence(lambda n: f"General Hospital {n}")


class BuildingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Building

    site = factory.SubFactory(SiteFactory)
    code = factory.Sequence(lambda n: f"b{n}")
    name = factory.Sequence(lambda n: f"Tower {n}")


class FloorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Floor

    building = factory.SubFactory(BuildingFactory)
    code = factory.Sequence(lambda n: str(n))
    level = factory.Sequence(lambda n: n)
    name = factory.LazyAttribute(lambda o: f"Floor {o.code}")


class RoomFactory(factory.django.DjangoModelFactory):
    """Each new room takes the next 4 m x 4 m square of a 50-wide grid, so rooms never overlap."""

    class Meta:
        model = Room

    floor = factory.SubFactory(FloorFactory)
    code = factory.Sequence(lambda n: f"R{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Room {o.code}")
    room_type = RoomType.PATIENT
    unit = "4 West"

    @factory.lazy_attribute
    def polygon(self):
        slot = next(_room_slots)
        return square((slot % 50) * 5.0, (slot // 50) * 5.0)


class ReceiverFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Receiver

    gateway_id = factory.Sequence(lambda n: f"gw-{n:04d}")
    floor = factory.SubFactory(FloorFactory)
    x = 2.0
    y = 2.0
    rssi_at_1m = -59.0


class AssetTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssetType
        django_get_or_create = ["slug"]
        skip_postgeneration_save = True

    name = "Infusion pump"
    slug = factory.LazyAttribute(lambda o: o.name.lower().replace(" ", "-"))
    default_pm_interval_days = 365  # a new type gets a PM plan of this interval (lifecycle.biomed.receivers)


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset
        skip_postgeneration_save = True

    asset_tag = factory.Sequence(lambda n: f"IP-{n:05d}")
    asset_type = factory.SubFactory(AssetTypeFactory)
    manufacturer = "BD"
    model = "Alaris 8015"
    serial_number = factory.Sequence(lambda n: f"SN{n:08d}")
    unit = "4 West"

    # AssetFactory(last_pm_date=..., pm_interval_days=...) sets the asset's PM schedule (lifecycle.biomed), the
    # way migrated data has it: the schedule replaced those columns.
    @factory.post_generation
    def pm_interval_days(self, create, extracted, **kwargs):
        if create and extracted is not None:
            _set_pm(self, interval_value=extracted, overrides_plan=True)

    @factory.post_generation
    def last_pm_date(self, create, extracted, **kwargs):
        if create and extracted is not None:
            _set_pm(self, last_done=extracted, last_result="pass", last_result_on=extracted)


def _set_pm(asset, **values):
    schedule = MaintenanceSchedule.objects.filter(asset_id=asset.pk, kind="pm", name="").first()
    if schedule is None:  # a decommissioned asset gets no schedules
        return
    for name, value in values.items():
        setattr(schedule, name, value)
    schedule.next_due = schedule.compute_next_due(asset.in_service_date)
    schedule.save()


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    tag_id = factory.Sequence(lambda n: f"c3{n:010x}")
    battery_percent = 90


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """UserFactory(roles=["Nurse"]) puts the user in those role groups."""
        if create and extracted:
            self.groups.add(*(Group.objects.get(name=name) for name in extracted))
        if create:
            self.save()


# The hospital builder ---------------------------------------------------------------------------------


def rect(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


@dataclass
class Hospital:
    """What ``build_hospital`` made, by the keys of its plan."""

    site: Site
    buildings: dict[str, Building]
    floors: dict[str, Floor]
    rooms: dict[str, Room]
    receivers: dict[str, Receiver] = field(default_factory=dict)  # by room key
    types: dict[str, AssetType] = field(default_factory=dict)
    ward: Room | None = None  # the room asking for equipment, if the plan names one
    positions: bool = False  # place() gives assets a position (the room's centroid) as the engine would

    def _only(self, found: dict, what: str):
        if len(found) != 1:
            raise AttributeError(f"this hospital has {len(found)} {what}s; pick one by its key")
        return next(iter(found.values()))

    @property
    def building(self) -> Building:
        return self._only(self.buildings, "building")

    @property
    def floor(self) -> Floor:
        return self._only(self.floors, "floor")

    @property
    def pump(self) -> AssetType:
        return self.types["pump"]

    @property
    def monitor(self) -> AssetType:
        return self.types["monitor"]

    def place(self, room: str, *, asset_type=None, state=AssetState.AVAILABLE, seen_minutes_ago=1.0, **kwargs):
        """An asset last heard ``seen_minutes_ago`` in the room of that key (a pump unless told)."""
        where = self.rooms[room]
        seen = timezone.now() - timedelta(minutes=seen_minutes_ago)
        if self.positions:
            kwargs = {
                "position_x": where.centroid_x,
                "position_y": where.centroid_y,
                "position_radius_m": 1.5,
                "location_confidence": 0.9,
                "located_at": seen,
                **kwargs,
            }
        return AssetFactory(
            asset_type=asset_type or self.pump, state=state, current_room=where, last_seen=seen, **kwargs
        )


def build_hospital(
    *,
    site: dict | None = None,
    buildings: dict[str, dict],
    floors: dict[str, dict],
    rooms: dict[str, dict],
    types: dict[str, dict] | None = None,
    receivers: bool = False,
    ward: str | None = None,
    positions: bool = False,
) -> Hospital:
    """Build a hospital from a plan, with the factories above. Each plan entry is keyed by the name the test
    uses, and holds the factory's fields:

    - ``buildings``: key -> BuildingFactory fields (all on one site, ``site``'s SiteFactory fields);
    - ``floors``: key -> FloorFactory fields, ``building`` naming a building key;
    - ``rooms``: key -> RoomFactory fields, ``floor`` naming a floor key; ``code`` defaults to the key;
      ``at=(x, y)`` puts a 4 m square there, ``box=(x0, y0, x1, y1)`` a rectangle (else ``polygon``);
    - ``types``: key -> AssetTypeFactory fields;
    - ``receivers``: one ceiling receiver in the middle of each room, gateway ``gw-<room key, lower case>``;
    - ``ward``: the key of the room asking for equipment; ``positions``: see ``Hospital.positions``.
    """
    made_site = SiteFactory(**(site or {}))
    made_buildings = {key: BuildingFactory(site=made_site, **fields) for key, fields in buildings.items()}
    made_floors = {
        key: FloorFactory(**{**fields, "building": made_buildings[fields["building"]]})
        for key, fields in floors.items()
    }
    made_rooms, made_receivers = {}, {}
    for key, fields in rooms.items():
        fields = {"code": key, **fields, "floor": made_floors[fields["floor"]]}
        if "at" in fields:
            fields["polygon"] = square(*fields.pop("at"))
        if "box" in fields:
            fields["polygon"] = rect(*fields.pop("box"))
        made_rooms[key] = room = RoomFactory(**fields)
        if receivers:
            made_receivers[key] = ReceiverFactory(
                gateway_id=f"gw-{key.lower()}",
                floor=room.floor,
                room=room,
                x=room.centroid_x,
                y=room.centroid_y,
                rssi_at_1m=-59.0,
                height_m=2.7,
            )
    return Hospital(
        site=made_site,
        buildings=made_buildings,
        floors=made_floors,
        rooms=made_rooms,
        receivers=made_receivers,
        types={key: AssetTypeFactory(**fields) for key, fields in (types or {}).items()},
        ward=made_rooms[ward] if ward else None,
        positions=positions,
    )
