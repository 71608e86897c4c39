"""The asset list biomed works from: its columns, filters and search, a constant number of queries
whatever the page size, and the CSV export of exactly the filtered list."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from assets.filters import first_of_next_month
from assets.models import Asset
from assets.services import tag_bind
from declarations.location_status import LocationStatus
from lifecycle.biomed.selectors import asset_next_due
from lifecycle.biomed.services import loan_start
from lifecycle.display import state_badge
from locations.freshness import asset_location_status
from tests.api.conftest import client_for
from tests.factories import AssetFactory, RoomFactory, TagFactory
from tests.lifecycle.helpers import open_recall_on


def changelist_url():
    return reverse("admin:assets_asset_changelist")


def listed(client, **params):
    response = client.get(changelist_url(), params)
    assert response.status_code == 200, response.content.decode()[:2000]
    return {asset.asset_tag for asset in response.context["cl"].result_list}


@pytest.fixture
def as_biomed(client, biomed_staff):
    client.force_login(biomed_staff)
    return client


def test_columns_show_state_place_location_status_last_seen_and_pm_due(as_biomed, hospital):
    response = as_biomed.get(changelist_url())
    html = response.content.decode()
    for header in (
        "Asset tag",
        "Asset type",
        "Model",
        "State",
        "Room and floor",
        "Location",
        "Last seen",
        "Maintenance due",
    ):
        assert f">{header}</a>" in html or f">{header}</span>" in html, header
    assert str(state_badge("cleaning")) in html  # the shared badge: colour, icon, label, definition
    assert "N1-101 · North Tower · Floor 1" in html
    assert "location-stale" in html and "location-located" in html and "location-missing" in html
    overdue = asset_next_due(asset=hospital["assets"]["PM-001"]).isoformat()
    assert f"{overdue} (overdue)" in html


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"state__exact": "available"}, {"IP-001", "IP-002", "PM-001", "PM-003"}),
        ({"state__exact": "decommissioned"}, {"PM-004"}),
        ({"location": "located"}, {"IP-001", "IP-003", "IP-004", "IP-005", "IP-006", "IP-007"}),
        ({"location": "stale"}, {"IP-002"}),
        ({"location": "missing"}, {"PM-001", "PM-002", "PM-003", "PM-004"}),
        # missing and tracked (tagged, in service, heard before, not on loan): the dashboard's "Missing assets";
        # PM-002 left through the loading dock
        ({"location": "missing", "tracked": "yes"}, {"PM-001", "PM-002"}),
        ({"tracked": "yes"}, {"IP-001", "PM-001", "PM-002"}),
        ({"class": "high_risk"}, set()),
        ({"class": "other"}, {f"IP-00{i}" for i in range(1, 8)} | {"PM-001", "PM-002", "PM-003", "PM-004"}),
        ({"pm": "overdue"}, {"PM-001"}),
        ({"pm": "soon"}, {"IP-005"}),
        ({"unit": "ICU"}, {"PM-001", "PM-002"}),
        ({"room_unit": "ICU"}, {"IP-002", "IP-003", "IP-004", "PM-001"}),
        ({"state__exact": "available", "location": "located"}, {"IP-001"}),
    ],
)
def test_filters(as_biomed, hospital, params, expected):
    assert listed(as_biomed, **params) == expected


def test_filter_by_type_building_and_floor(as_biomed, hospital):
    monitors = hospital["types"]["monitors"]
    assert listed(as_biomed, asset_type__id__exact=monitors.pk) == {"PM-001", "PM-002", "PM-003", "PM-004"}
    north = hospital["floors"]["n1"].building
    assert listed(as_biomed, where=f"b{north.pk}") == {
        "IP-001",
        "IP-002",
        "IP-003",
        "IP-004",
        "IP-005",
        "IP-006",
        "IP-007",
        "PM-001",
    }
    assert listed(as_biomed, where=f"f{hospital['floors']['s1'].pk}") == {"PM-002"}
    page = as_biomed.get(changelist_url()).content.decode()
    assert "North Tower: all floors" in page and "South Pavilion · Floor 1" in page


def test_pm_due_this_month_includes_overdue(as_biomed, hospital):
    end = first_of_next_month(timezone.localdate())
    expected = {
        a.asset_tag
        for a in Asset.objects.exclude(state="decommissioned")
        if asset_next_due(asset=a) and asset_next_due(asset=a) < end
    }
    assert "PM-001" in expected
    assert listed(as_biomed, pm="month") == expected


def test_open_recall_filter(as_biomed, hospital):
    recalled = hospital["assets"]["IP-003"]
    recalled.serial_number = "RECALLED-1"
    recalled.save()
    open_recall_on(recalled)
    assert listed(as_biomed, recall="open") == {"IP-003"}
    assert "IP-003" not in listed(as_biomed, recall="none")


@pytest.mark.parametrize(
    "term, expected",
    [
        ("IP-00", {"IP-001", "IP-002", "IP-003", "IP-004", "IP-005", "IP-006", "IP-007"}),
        ("mx450", {"PM-003"}),
    ],
)
def test_search_by_tag_and_model(as_biomed, hospital, term, expected):
    assert listed(as_biomed, q=term) == expected


def test_search_by_serial_and_by_tag_id_in_any_format(as_biomed, hospital):
    asset = hospital["assets"]["IP-006"]
    assert listed(as_biomed, q=asset.serial_number) == {"IP-006"}
    tag = TagFactory(tag_id="c3a0b1c2d3e4")
    tag_bind(tag=tag, asset=asset)
    assert listed(as_biomed, q="C3:A0:B1:C2:D3:E4") == {"IP-006"}
    assert listed(as_biomed, q="b1c2d3") == {"IP-006"}


def _count_queries(client, django_assert_num_queries, per_page, expected, params):
    model_admin = admin.site._registry[Asset]
    original = model_admin.list_per_page
    model_admin.list_per_page = per_page
    try:
        with django_assert_num_queries(expected):
            response = client.get(changelist_url(), params)
        assert response.status_code == 200
        return len(response.context["cl"].result_list)
    finally:
        model_admin.list_per_page = original


@pytest.mark.parametrize(
    "params, expected_queries",
    [
        ({}, 13),
        ({"state__exact": "available", "location": "located", "q": "IP"}, 13),
        ({"pm": "overdue", "recall": "none", "where": "b{building}", "unit": "4 West"}, 13),
    ],
    ids=["unfiltered", "state-location-search", "pm-recall-where-unit"],
)
def test_the_list_costs_the_same_queries_for_5_or_40_rows(
    as_biomed, django_assert_num_queries, params, expected_queries
):
    rooms = [RoomFactory() for _ in range(4)]
    rooms[1].floor = rooms[2].floor = rooms[3].floor = rooms[0].floor
    for room in rooms[1:]:
        room.save()
    params = {k: v.format(building=rooms[0].floor.building_id) for k, v in params.items()}
    now = timezone.now()
    for i in range(45):
        asset = AssetFactory(
            asset_tag=f"IP-{i:03d}",
            current_room=rooms[i % 4],
            last_seen=now - timedelta(minutes=i),
            in_service_date=timezone.localdate() - timedelta(days=300 + 10 * i),
        )
        if i % 3 == 0:
            tag_bind(tag=TagFactory(), asset=asset)
    # Session, user, the session's TOTP device and whether the role needs one (accounts), 2 permission
    # lookups, the role check for the sidebar, the filters' choices (types, floors, owning units, room
    # units), one COUNT and one page. Never one per row. (The PM filter is one EXISTS on the schedules,
    # inside the list query: no query of its own.)
    small = _count_queries(as_biomed, django_assert_num_queries, 5, expected_queries, params)
    large = _count_queries(as_biomed, django_assert_num_queries, 40, expected_queries, params)
    assert small == 5 and large > 5


def test_csv_export_is_the_filtered_list_every_page_of_it(as_biomed, hospital):
    hospital["assets"]["IP-001"].model = '=HYPERLINK("http://evil")'
    hospital["assets"]["IP-001"].save()
    model_admin = admin.site._registry[Asset]
    model_admin.list_per_page, original = 2, model_admin.list_per_page
    try:
        page = as_biomed.get(changelist_url(), {"state__exact": "available"}).content.decode()
        export_url = reverse("admin:assets_asset_export") + "?state__exact=available"
        assert export_url in page
        response = as_biomed.get(export_url)
    finally:
        model_admin.list_per_page = original
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["asset_tag"] for r in rows] == ["IP-001", "IP-002", "PM-001", "PM-003"]  # 4 rows over 2 pages
    by_tag = {r["asset_tag"]: r for r in rows}
    assert by_tag["IP-001"]["room"] == "N1-101" and by_tag["IP-001"]["location_status"] == "located"
    assert by_tag["IP-001"]["model"].startswith("'=")  # a spreadsheet will not run it as a formula
    assert by_tag["PM-001"]["tag_id"].count(":") == 5 and by_tag["PM-001"]["location_status"] == "missing"


def test_csv_export_follows_search_and_sort(as_biomed, hospital):
    response = as_biomed.get(reverse("admin:assets_asset_export"), {"q": "PM-", "o": "-1"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["asset_tag"] for r in rows] == ["PM-004", "PM-003", "PM-002", "PM-001"]


# One FilterSet: every admin filter selects what the API's filter with the same value selects ---------------

ALL_ADMIN_FILTERS = [
    ({"location": "located"}, {"location_status": "located"}),
    ({"location": "stale"}, {"location_status": "stale"}),
    ({"location": "missing"}, {"location_status": "missing"}),
    ({"tracked": "yes"}, {"tracked": "true"}),
    ({"tracked": "no"}, {"tracked": "false"}),
    ({"location": "missing", "tracked": "yes"}, {"location_status": "missing", "tracked": "true"}),
    ({"pm": "overdue"}, {"pm_overdue": "true"}),
    ({"pm": "month"}, "month"),  # the days to the end of this month, computed below
    ({"pm": "soon"}, {"pm_due_within_days": "30", "pm_overdue": "false"}),
    ({"recall": "open"}, {"open_recall": "true"}),
    ({"recall": "none"}, {"open_recall": "false"}),
    ({"where": "b{north}"}, {"building": "{north}"}),
    ({"where": "f{s1}"}, {"floor": "{s1}"}),
    ({"unit": "ICU"}, {"unit": "ICU"}),
    ({"room_unit": "ICU"}, {"room_unit": "ICU"}),
    ({"class": "high_risk"}, {"high_risk": "true"}),
    ({"class": "life_support"}, {"life_support": "true"}),
    ({"class": "other"}, {"high_risk": "false"}),
    ({"class": "security"}, {"security_inventory": "true"}),
]


@pytest.fixture
def varied(hospital, biomed_staff):
    """The admin hospital, with something for each filter to tell apart: a recall, a high-risk and a
    life-support asset, a data-bearing one, one on loan."""
    assets = hospital["assets"]
    assets["IP-003"].serial_number = "RECALLED-1"
    assets["IP-003"].save()
    open_recall_on(assets["IP-003"])
    Asset.objects.filter(pk=assets["IP-004"].pk).update(high_risk=True)
    Asset.objects.filter(pk=assets["IP-005"].pk).update(life_support=True)
    Asset.objects.filter(pk=assets["IP-006"].pk).update(data_bearing=True)
    until = timezone.now() + timedelta(days=3)
    loan_start(
        asset=assets["IP-001"], kind="patient_home", borrower="Clinic B", expected_return=until, user=biomed_staff
    )
    return hospital


def api_listed(user, params) -> set[str]:
    response = client_for(user).get("/api/v1/assets/", {**params, "page_size": 500})
    assert response.status_code == 200, response.content.decode()[:2000]
    return {a["asset_tag"] for a in response.json()["results"]}


@pytest.mark.parametrize(
    "admin_params, api_params",
    ALL_ADMIN_FILTERS,
    ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items()) if isinstance(p, dict) else p,
)
def test_each_admin_filter_lists_what_the_api_filter_lists(as_biomed, biomed_staff, varied, admin_params, api_params):
    ids = {"north": varied["floors"]["n1"].building_id, "s1": varied["floors"]["s1"].pk}
    admin_params = {k: v.format(**ids) for k, v in admin_params.items()}
    if api_params == "month":
        today = timezone.localdate()
        api_params = {"pm_due_within_days": str((first_of_next_month(today) - today).days - 1)}
    api_params = {k: v.format(**ids) for k, v in api_params.items()}
    in_admin = listed(as_biomed, **admin_params)
    assert in_admin == api_listed(biomed_staff, api_params)


def test_the_varied_hospital_makes_every_filter_choose(as_biomed, varied):
    """The comparison above is not of empty lists: each filter picks some assets and leaves others."""
    everything = set(Asset.objects.values_list("asset_tag", flat=True))
    for admin_params, _ in ALL_ADMIN_FILTERS:
        ids = {"north": varied["floors"]["n1"].building_id, "s1": varied["floors"]["s1"].pk}
        chosen = listed(as_biomed, **{k: v.format(**ids) for k, v in admin_params.items()})
        assert chosen and chosen != everything, admin_params


def test_missing_is_the_freshness_definition_in_the_admin_and_the_api(as_biomed, biomed_staff, varied):
    by_definition = {
        a.asset_tag
        for a in Asset.objects.select_related("current_room")
        if asset_location_status(asset=a) == LocationStatus.MISSING
    }
    # never seen, not heard for days, last seen at the exit, retired: all missing, tagged or not
    assert by_definition == {"PM-001", "PM-002", "PM-003", "PM-004"}
    assert listed(as_biomed, location="missing") == by_definition
    assert api_listed(biomed_staff, {"location_status": "missing"}) == by_definition
    not_missing = set(Asset.objects.values_list("asset_tag", flat=True)) - by_definition
    assert listed(as_biomed, location="located") | listed(as_biomed, location="stale") == not_missing
