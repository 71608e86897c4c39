"""The dashboard on the admin index: each number is right, and its link opens the list of exactly those rows."""

import pytest
from django.urls import reverse

from lifecycle.alerts.models import ParLevel
from lifecycle.dashboard import dashboard_sections
from lifecycle.decommissioning import services as decommissioning
from lifecycle.models import WorkOrderKind
from lifecycle.services import work_order_open
from tests.lifecycle.decommissioning.conftest import complete
from tests.lifecycle.helpers import open_recall_on


def tiles(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200

    sections = dashboard_sections(user=response.wsgi_request.user)
    html = response.content.decode()
    found = {}
    for section in sections:
        for tile in section.tiles:
            assert f'id="tile-{tile.key}"' in html and f'href="{tile.url.replace("&", "&amp;")}"' in html
            found[tile.key] = tile
    return found


def rows_behind(client, tile):
    response = client.get(tile.url)
    assert response.status_code == 200, tile
    return response.context["cl"].result_count


@pytest.fixture
def busy_day(hospital, biomed_staff, security_staff):
    """A recall, a par breach, a checklist ready for sign-off and a work order for biomed."""
    assets = hospital["assets"]
    open_recall_on(assets["IP-003"])
    ParLevel.objects.create(unit="4 West", asset_type=hospital["types"]["pumps"], target=3, critical=2)
    checklist = complete(decommissioning.checklist_open(asset=assets["IP-006"], user=biomed_staff), biomed_staff)
    work_order_open(asset=assets["IP-005"], kind=WorkOrderKind.PM, user=biomed_staff, technician=biomed_staff)
    return {"checklist": checklist}


def test_biomed_sees_the_days_numbers_and_each_links_to_its_rows(client, biomed_staff, busy_day):
    client.force_login(biomed_staff)
    found = tiles(client)
    expected = {
        "state-available": 4,
        "state-reserved": 1,
        "state-in_use": 2,
        "state-soiled": 1,
        "state-cleaning": 1,
        "state-biomed": 1,
        "state-decommissioned": 1,
        "pm-overdue": 1,
        "open-recalls": 1,
        "missing": 2,
        "par-breaches": 1,  # one located, available pump in 4 West's rooms; critical is 2
        "sign-offs": 1,
        "my-work-orders": 1,
    }
    assert {key: found[key].count for key in expected} == expected
    for tile in found.values():
        assert rows_behind(client, tile) == tile.count, tile.key


def test_sign_offs_waiting_follow_the_signers(client, biomed_staff, security_staff, busy_day):
    checklist = busy_day["checklist"]
    decommissioning.checklist_sign_off(
        checklist=checklist, user=biomed_staff, role="clinical_engineering", version=checklist.version
    )
    client.force_login(biomed_staff)
    assert tiles(client)["sign-offs"].count == 0  # signed
    client.force_login(security_staff)
    tile = tiles(client)["sign-offs"]
    assert tile.count == 1 and rows_behind(client, tile) == 1


def test_an_incomplete_checklist_is_not_waiting_for_a_sign_off(client, hospital, security_staff, biomed_staff):
    decommissioning.checklist_open(asset=hospital["assets"]["IP-006"], user=biomed_staff)
    client.force_login(security_staff)
    assert tiles(client)["sign-offs"].count == 0


def test_security_sees_only_what_it_may_open(client, security_staff, busy_day):
    client.force_login(security_staff)
    found = tiles(client)
    assert "state-available" in found and "missing" in found and "sign-offs" in found
    for hidden in ("par-breaches", "open-alerts", "my-work-orders", "silent-receivers"):
        assert hidden not in found


def test_staff_without_permissions_get_no_dashboard(client, nurse_staff, busy_day):
    client.force_login(nurse_staff)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert 'id="dashboard"' not in response.content.decode()
