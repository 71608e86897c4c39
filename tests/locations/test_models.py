"""Room and receiver validation on the model itself, as the admin and any other caller see it."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from locations.models import Room
from tests.factories import FloorFactory, RoomFactory, square


@pytest.mark.django_db
def test_a_valid_room_gets_its_centroid_and_area():
    room = RoomFactory(polygon=square(10, 20, size=4))
    room.full_clean()
    assert (room.centroid_x, room.centroid_y, room.area_m2) == pytest.approx((12, 22, 16))
    assert room.site == room.floor.building.site


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ({"type": "Polygon", "coordinates": [[[0, 0], [4, 4], [4, 0], [0, 4], [0, 0]]]}, "Self-intersection"),
        ({"type": "Polygon", "coordinates": []}, "polygon has no coordinates"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [2, 2], [0, 0]]]}, "not valid"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "geometry must be a Polygon"),
        (None, "geometry is missing"),
    ],
)
def test_bad_polygons_are_refused_with_the_reason(polygon, message):
    room = RoomFactory.build(floor=FloorFactory(), polygon=polygon)
    with pytest.raises(ValidationError) as excinfo:
        room.full_clean()
    assert message in str(excinfo.value.message_dict["polygon"])


@pytest.mark.django_db
def test_overlapping_rooms_on_one_floor_are_refused_but_shared_walls_are_fine():
    floor = FloorFactory()
    RoomFactory(floor=floor, code="401", polygon=square(0, 0, size=4))
    neighbour = RoomFactory.build(floor=floor, code="402", polygon=square(4, 0, size=4))
    neighbour.full_clean()  # touching along x = 4 is a shared wall
    intruder = RoomFactory.build(floor=floor, code="403", polygon=square(3, 0, size=4))
    with pytest.raises(ValidationError) as excinfo:
        intruder.full_clean()
    assert "rooms 403 and 401 overlap by 4.00 m²" in str(excinfo.value)
    other_floor = RoomFactory.build(
        floor=FloorFactory(building=floor.building), code="503", polygon=square(3, 0, size=4)
    )
    other_floor.full_clean()  # the same footprint upstairs is another room


@pytest.mark.django_db
def test_room_codes_are_unique_per_site_not_globally():
    floor = FloorFactory()
    RoomFactory(floor=floor, code="401")
    duplicate = RoomFactory.build(floor=FloorFactory(building=floor.building), code="401")
    with pytest.raises(ValidationError) as excinfo:
        duplicate.full_clean()
    assert "room code 401 is already used on this site" in str(excinfo.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    RoomFactory(code="401")  # another site (new floor, building and site) may reuse the code
    assert Room.objects.filter(code="401").count() == 2
