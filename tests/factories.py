"""factory-boy factories for the domain model. Rooms are laid out on a grid so they never overlap."""

import itertools

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from assets.models import Asset, AssetType, Tag
from declarations.room_types import RoomType
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
    from lifecycle.biomed.models import MaintenanceSchedule

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
