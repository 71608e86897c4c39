"""What grants access or changes configuration is in the append-only trail with who and when: a user's
superuser, staff and active flags and permissions (also security events), a role's permissions, and edits of
asset types (their high-risk and life-support flags drive the accreditation report), rooms and receivers."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command

from assets.models import AssetType
from lifecycle.models import ChangeRecord
from lifecycle.selectors import object_change_history
from locations.models import Receiver, Room
from locations.services import floorplan_import
from tests.factories import AssetTypeFactory, ReceiverFactory, RoomFactory, UserFactory
from tests.locations.test_import_floorplan import GOOD_FEATURES, floor_plan

pytestmark = pytest.mark.django_db


def change_form_data(client, url):
    """The admin change form's current values, as a browser would post them back."""
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value is None or value is False or name == "password":
            continue
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif value is True:
            data[name] = "on"
        else:
            data[name] = value
    return data


def test_making_a_nurse_staff_and_superuser_with_a_permission_is_in_the_trail(admin_client, admin_user, security_log):
    nurse = UserFactory(username="nina", roles=["Nurse"])
    change_asset = Permission.objects.get(codename="change_asset", content_type__app_label="assets")
    url = f"/admin/auth/user/{nurse.pk}/change/"
    data = change_form_data(admin_client, url)
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.update({"date_joined_0": "2026-01-01", "date_joined_1": "08:00:00"})
    data.update({"is_staff": "on", "is_superuser": "on", "user_permissions": [str(change_asset.pk)]})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""

    records = [r for r in object_change_history(instance=nurse) if r.user == admin_user]
    changes = {name: change for r in records for name, change in r.changes.items()}
    assert changes["is_staff"] == {"from": False, "to": True}
    assert changes["is_superuser"] == {"from": False, "to": True}
    assert changes["permission"] == {"from": None, "to": "assets.change_asset"}
    privileges = {(e["user"], e["field"], e["from"], e["to"], e["by"]) for e in security_log("user.privilege_changed")}
    assert privileges == {
        ("nina", "is_staff", False, True, admin_user.username),
        ("nina", "is_superuser", False, True, admin_user.username),
    }
    [added] = security_log("permission.added")
    assert (added["user"], added["permission"], added["by"]) == ("nina", "assets.change_asset", admin_user.username)

    # Taking them away again is recorded the same way; signing in (last_login) is not a change.
    nurse.refresh_from_db()
    nurse.is_superuser = nurse.is_active = False
    nurse.save()
    nurse.user_permissions.clear()
    nurse.last_login = nurse.date_joined
    nurse.save(update_fields=["last_login"])
    latest = [r.changes for r in object_change_history(instance=nurse).order_by("-at", "-id")[:2]]
    assert {"permission": {"from": "assets.change_asset", "to": None}} in latest
    assert {"is_superuser": {"from": True, "to": False}, "is_active": {"from": True, "to": False}} in latest
    assert [e["permission"] for e in security_log("permission.removed")] == ["assets.change_asset"]


def test_a_user_created_as_superuser_is_in_the_trail_and_an_ordinary_one_is_not(security_log):
    call_command("createsuperuser", username="root2", email="r@example.org", interactive=False, stdout=io.StringIO())
    root = UserFactory._meta.model.objects.get(username="root2")
    [record] = object_change_history(instance=root)
    assert record.action == "created" and record.user is None
    assert record.changes == {"is_staff": {"from": None, "to": True}, "is_superuser": {"from": None, "to": True}}
    assert {e["field"] for e in security_log("user.privilege_changed") if e["user"] == "root2"} == {
        "is_staff",
        "is_superuser",
    }
    plain = UserFactory(username="plain")
    assert not object_change_history(instance=plain).exclude(changes__has_key="role").exists()


def test_a_permission_given_to_a_role_is_in_the_trail(security_log):
    nurse = Group.objects.get(name="Nurse")
    delete_asset = Permission.objects.get(codename="delete_asset", content_type__app_label="assets")
    delete_asset.group_set.add(nurse)  # from the permission's side
    [record] = object_change_history(instance=nurse)
    assert record.changes == {"permission": {"from": None, "to": "assets.delete_asset"}}
    [event] = security_log("permission.added")
    assert (event["group"], event["permission"], event["by"]) == ("Nurse", "assets.delete_asset", "system")


def test_renaming_an_asset_type_and_flagging_it_life_support_in_the_admin_is_in_the_trail(admin_client, admin_user):
    pumps = AssetTypeFactory(name="Infusion pump", slug="infusion-pump")
    url = f"/admin/assets/assettype/{pumps.pk}/change/"
    data = change_form_data(admin_client, url)
    data.update({"name": "Syringe driver", "life_support": "on"})
    assert admin_client.post(url, data).status_code == 302
    [record] = object_change_history(instance=pumps).filter(action="changed")
    assert record.user == admin_user
    assert record.changes == {
        "name": {"from": "Infusion pump", "to": "Syringe driver"},
        "life_support": {"from": False, "to": True},
    }


def test_room_and_receiver_edits_in_the_admin_are_in_the_trail(admin_client, admin_user):
    room = RoomFactory(code="4N-401", name="Room 401")
    receiver = ReceiverFactory(gateway_id="gw-401", floor=room.floor, rssi_at_1m=-59)
    for url, changes in (
        (f"/admin/locations/room/{room.pk}/change/", {"name": "Isolation 401", "room_type": "procedure"}),
        (f"/admin/locations/receiver/{receiver.pk}/change/", {"rssi_at_1m": "-63.0", "active": ""}),
    ):
        data = change_form_data(admin_client, url)
        data.update(changes)
        data = {k: v for k, v in data.items() if v != ""}
        response = admin_client.post(url, data)
        assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    [room_record] = object_change_history(instance=room).filter(user=admin_user)
    assert room_record.changes == {
        "name": {"from": "Room 401", "to": "Isolation 401"},
        "room_type": {"from": room.room_type, "to": "procedure"},
    }
    [receiver_record] = object_change_history(instance=receiver).filter(user=admin_user)
    assert receiver_record.changes == {
        "rssi_at_1m": {"from": -59.0, "to": -63.0},
        "active": {"from": True, "to": False},
    }


def test_a_floor_plan_import_is_in_the_trail_and_its_dry_run_is_not(tmp_path):
    floorplan_import(documents=[("n4.geojson", floor_plan(GOOD_FEATURES))], dry_run=True)
    assert not ChangeRecord.objects.filter(content_type__app_label="locations").exists()
    floorplan_import(documents=[("n4.geojson", floor_plan(GOOD_FEATURES))])
    room = Room.objects.get(code="4N-401")
    [created] = object_change_history(instance=room)
    assert created.action == "created" and created.changes["code"] == {"from": None, "to": "4N-401"}
    gateway = Receiver.objects.get(gateway_id="gw-n4-401")
    assert object_change_history(instance=gateway).get().changes["x"] == {"from": None, "to": 2.0}
    # A pipeline write (last_heard) is not a configuration change.
    gateway.last_heard = created.at
    gateway.save()
    assert object_change_history(instance=gateway).count() == 1
    assert AssetType.objects.count() == 0
