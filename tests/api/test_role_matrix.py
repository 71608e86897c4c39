"""Role x endpoint x method: who gets what, for every operation in the OpenAPI schema.

The operations are read from the schema itself, so a new endpoint without an entry here fails
``test_every_operation_in_the_schema_has_a_matrix_entry``. Each entry prepares what the operation needs
(an asset in biomed, a complete checklist, an open request...) and says the status each role gets; each
role runs in its own savepoint, rolled back, so all start from the same state.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.services import alert_raise
from lifecycle.decommissioning import services as decommissioning
from lifecycle.requests.services import equipment_request_assign, equipment_request_create
from lifecycle.services import asset_transition, recall_issue
from lifecycle.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.api.conftest import build_api_hospital, client_for
from tests.factories import ReceiverFactory, TagFactory, UserFactory

ROLES = ["anonymous", "nurse", "dispatch", "clinical_engineering", "security"]
METHODS = {"get", "post", "put", "patch", "delete"}


def everyone(status):
    return {"anonymous": 401, "nurse": status, "dispatch": status, "clinical_engineering": status, "security": status}


def only(status, *roles, others=403):
    return {"anonymous": 401, **{r: (status if r in roles else others) for r in ROLES[1:]}}


READ = everyone(200)
EDITORS = ("clinical_engineering", "security")


class World:
    """Builders for what each operation needs; ``user`` is whoever is calling (None: anonymous)."""

    def __init__(self, users):
        self.h = build_api_hospital()
        self.users = users

    def asset(self, **kwargs):
        return self.h.place("W402", **kwargs)

    def in_biomed(self, *, opened=False, complete=False, signed=False, decommissioned=False):
        biomed, security = self.users["clinical_engineering"], self.users["security"]
        asset = self.asset(data_bearing=False, networked=False)
        asset_transition(asset=asset, transition="send_to_biomed", user=biomed, note="end of life")
        if not (opened or complete or signed or decommissioned):
            return asset
        checklist = decommissioning.checklist_open(asset=asset, user=biomed)
        if complete or signed or decommissioned:
            checklist = decommissioning.checklist_update(
                checklist=checklist,
                user=biomed,
                changes={"final_disposition": "recycle", "disposition_recipient": "GreenTech"},
            )
            checklist = decommissioning.checklist_record_tag_detached(checklist=checklist, user=biomed)
            decommissioning.custody_entry_add(
                checklist=checklist,
                user=biomed,
                from_party="4 West",
                to_party="GreenTech",
                place="dock",
                transferred_at=timezone.now() - timedelta(hours=1),
            )
            checklist.refresh_from_db()
        if signed or decommissioned:
            for user, role in ((biomed, "clinical_engineering"), (security, "security")):
                decommissioning.checklist_sign_off(checklist=checklist, user=user, role=role, version=checklist.version)
        if decommissioned:
            decommissioning.asset_decommission(asset=asset, user=biomed)
        return asset

    def request(self, *, assigned=False):
        self.asset(asset_tag=f"REQ-{timezone.now().timestamp()}")
        r = equipment_request_create(user=self.users["nurse"], asset_type=self.h.pump, destination_room=self.h.ward)
        if assigned:
            r = equipment_request_assign(equipment_request=r, user=self.users["dispatch"])
        return r

    def par_level(self):
        return ParLevel.objects.create(unit="4 West", asset_type=self.h.pump, target=2, critical=1)

    def alert(self):
        return alert_raise(kind="missing", subject=self.asset(), message="not heard for 25 h")[0]

    def recall(self):
        asset = self.asset(serial_number="SN-RECALL")
        return recall_issue(
            reference_number="R-1",
            manufacturer=asset.manufacturer,
            model=asset.model,
            serial_numbers=["SN-RECALL"],
            issued_date=date(2026, 1, 1),
        )

    def subscription(self, user):
        owner = (
            user
            if user is not None and user.groups.filter(name__in=["Dispatch", "Security"]).exists()
            else (self.users["dispatch"])
        )
        return WebhookSubscription.objects.create(
            name="board", url="http://127.0.0.1:9/x", owner=owner, events=["alert.raised"]
        )

    def delivery(self, user):
        sub = self.subscription(user)
        return WebhookDelivery.objects.create(
            subscription=sub, event="alert.raised", event_id=uuid.uuid4(), body="{}", created_at=timezone.now()
        )


def asset_path(rest=""):
    return lambda w, u: (f"/api/v1/assets/{w.asset().pk}/{rest}", None)


def biomed_path(rest, body=None, **state):
    return lambda w, u: (f"/api/v1/assets/{w.in_biomed(**state).pk}/decommissioning/{rest}", body)


def fixed(path, body=None):
    return lambda w, u: (path, body)


def map_only(status, *roles):
    """The floor map's calls (/api/v1/map/, floormap/api.py) take a session: anonymous is 403, not 401."""
    return {"anonymous": 403, **{r: (status if r in roles else 403) for r in ROLES[1:]}}


MAP_ROLES = ("nurse", "dispatch", "clinical_engineering")  # the policy table's map.view (and superusers)

# (method, schema path) -> (prepare(world, user) -> (url, body), {role: status})
MATRIX = {
    # The floor map: its roles read; nurses and dispatch start use, return and ask for delivery.
    ("get", "/api/v1/map/floors/{floor_id}/"): (
        lambda w, u: (f"/api/v1/map/floors/{w.h.ward.floor_id}/", None),
        map_only(200, *MAP_ROLES),
    ),
    ("get", "/api/v1/map/floors/{floor_id}/assets/"): (
        lambda w, u: (f"/api/v1/map/floors/{w.h.ward.floor_id}/assets/", None),
        map_only(200, *MAP_ROLES),
    ),
    ("get", "/api/v1/map/search/"): (
        lambda w, u: (f"/api/v1/map/search/?q=infusion+pump&room={w.h.ward.pk}", None),
        map_only(200, *MAP_ROLES),
    ),
    ("get", "/api/v1/map/places/"): (fixed("/api/v1/map/places/?q=W40"), map_only(200, *MAP_ROLES)),
    ("post", "/api/v1/map/assets/{asset_id}/action/"): (
        lambda w, u: (f"/api/v1/map/assets/{w.asset().pk}/action/", {"action": "start_use"}),
        map_only(200, "nurse", "dispatch"),
    ),
    ("post", "/api/v1/map/requests/"): (
        lambda w, u: ("/api/v1/map/requests/", {"asset_type": w.h.pump.pk, "room": w.h.ward.pk}),
        map_only(201, "nurse", "dispatch"),
    ),
    ("get", "/api/v1/map/session/"): (fixed("/api/v1/map/session/"), map_only(200, *MAP_ROLES)),
    ("post", "/api/v1/map/session/"): (fixed("/api/v1/map/session/", {}), map_only(200, *MAP_ROLES)),
    # accounts: the step-up exchange checks the password, not the caller (a wrong one is 401 for everybody);
    # a token revokes itself.
    ("post", "/api/v1/auth/step-up/"): (
        fixed("/api/v1/auth/step-up/", {"username": "nobody", "password": "wrong", "otp_code": "123456"}),
        {role: 401 for role in ROLES},
    ),
    ("delete", "/api/v1/auth/token/"): (fixed("/api/v1/auth/token/"), everyone(204)),
    ("get", "/api/v1/alerts/"): (fixed("/api/v1/alerts/"), READ),
    ("get", "/api/v1/alerts/{id}/"): (lambda w, u: (f"/api/v1/alerts/{w.alert().pk}/", None), READ),
    ("post", "/api/v1/alerts/{id}/acknowledge/"): (
        lambda w, u: (f"/api/v1/alerts/{w.alert().pk}/acknowledge/", None),
        only(200, "dispatch", "clinical_engineering"),
    ),
    ("post", "/api/v1/alerts/{id}/resolve/"): (
        lambda w, u: (f"/api/v1/alerts/{w.alert().pk}/resolve/", None),
        only(200, "dispatch", "clinical_engineering"),
    ),
    ("get", "/api/v1/asset-types/"): (fixed("/api/v1/asset-types/"), READ),
    ("get", "/api/v1/asset-types/{id}/"): (lambda w, u: (f"/api/v1/asset-types/{w.h.pump.pk}/", None), READ),
    ("get", "/api/v1/assets/"): (fixed("/api/v1/assets/"), READ),
    ("get", "/api/v1/assets/{id}/"): (asset_path(), READ),
    ("get", "/api/v1/assets/{id}/location-history/"): (asset_path("location-history/"), READ),
    ("get", "/api/v1/assets/nearest/"): (fixed("/api/v1/assets/nearest/?type=infusion-pump&room=W401"), READ),
    ("get", "/api/v1/assets/{asset_id}/transitions/"): (asset_path("transitions/"), READ),
    ("post", "/api/v1/assets/{asset_id}/transitions/"): (
        lambda w, u: (f"/api/v1/assets/{w.asset().pk}/transitions/", {"transition": "reserve"}),
        only(201, "dispatch"),
    ),
    ("get", "/api/v1/assets/{asset_id}/decommissioning/"): (biomed_path("", opened=True), only(200, *EDITORS)),
    ("post", "/api/v1/assets/{asset_id}/decommissioning/"): (biomed_path(""), only(201, *EDITORS)),
    ("patch", "/api/v1/assets/{asset_id}/decommissioning/"): (
        biomed_path("", {"disposition_reference": "WTN-1"}, opened=True),
        only(200, *EDITORS),
    ),
    ("post", "/api/v1/assets/{asset_id}/decommissioning/custody-entries/"): (
        lambda w, u: (
            f"/api/v1/assets/{w.in_biomed(opened=True).pk}/decommissioning/custody-entries/",
            {
                "from_party": "4 West",
                "to_party": "Biomed",
                "place": "B2",
                "transferred_at": (timezone.now() - timedelta(minutes=5)).isoformat(),
            },
        ),
        only(201, *EDITORS),
    ),
    ("post", "/api/v1/assets/{asset_id}/decommissioning/tag-detachment/"): (
        biomed_path("tag-detachment/", opened=True),
        only(200, *EDITORS),
    ),
    ("get", "/api/v1/assets/{asset_id}/decommissioning/sign-offs/"): (
        biomed_path("sign-offs/", opened=True),
        only(200, *EDITORS),
    ),
    ("post", "/api/v1/assets/{asset_id}/decommissioning/sign-offs/"): (
        lambda w, u: (
            lambda a: (
                f"/api/v1/assets/{a.pk}/decommissioning/sign-offs/",
                {"role": "clinical_engineering", "version": a.decommissioning_checklist.version},
            )
        )(w.in_biomed(complete=True)),
        only(201, "clinical_engineering"),
    ),
    ("post", "/api/v1/assets/{asset_id}/decommissioning/decommission/"): (
        biomed_path("decommission/", {}, signed=True),
        only(201, "clinical_engineering"),
    ),
    ("get", "/api/v1/assets/{asset_id}/decommissioning/certificate/"): (
        biomed_path("certificate/", decommissioned=True),
        only(200, *EDITORS),
    ),
    ("get", "/api/v1/buildings/"): (fixed("/api/v1/buildings/"), READ),
    ("get", "/api/v1/buildings/{id}/"): (lambda w, u: (f"/api/v1/buildings/{w.h.ward.floor.building_id}/", None), READ),
    ("get", "/api/v1/floors/"): (fixed("/api/v1/floors/"), READ),
    ("get", "/api/v1/floors/{id}/"): (lambda w, u: (f"/api/v1/floors/{w.h.ward.floor_id}/", None), READ),
    ("get", "/api/v1/rooms/"): (fixed("/api/v1/rooms/"), READ),
    ("get", "/api/v1/rooms/{id}/"): (lambda w, u: (f"/api/v1/rooms/{w.h.ward.pk}/", None), READ),
    ("get", "/api/v1/sites/"): (fixed("/api/v1/sites/"), READ),
    ("get", "/api/v1/sites/{id}/"): (lambda w, u: (f"/api/v1/sites/{w.h.ward.site_id}/", None), READ),
    ("get", "/api/v1/receivers/"): (fixed("/api/v1/receivers/"), READ),
    ("get", "/api/v1/receivers/{id}/"): (
        lambda w, u: (f"/api/v1/receivers/{ReceiverFactory(floor=w.h.ward.floor).pk}/", None),
        READ,
    ),
    ("get", "/api/v1/states/"): (fixed("/api/v1/states/"), READ),
    ("get", "/api/v1/equipment-requests/"): (fixed("/api/v1/equipment-requests/"), READ),
    ("post", "/api/v1/equipment-requests/"): (
        lambda w, u: ("/api/v1/equipment-requests/", {"asset_type": "infusion-pump", "destination_room": w.h.ward.pk}),
        only(201, "nurse", "dispatch"),
    ),
    ("get", "/api/v1/equipment-requests/{id}/"): (
        lambda w, u: (f"/api/v1/equipment-requests/{w.request().pk}/", None),
        READ,
    ),
    ("post", "/api/v1/equipment-requests/{id}/assign/"): (
        lambda w, u: (f"/api/v1/equipment-requests/{w.request().pk}/assign/", {}),
        only(200, "dispatch"),
    ),
    ("post", "/api/v1/equipment-requests/{id}/deliver/"): (
        lambda w, u: (f"/api/v1/equipment-requests/{w.request(assigned=True).pk}/deliver/", {}),
        only(200, "dispatch"),
    ),
    ("post", "/api/v1/equipment-requests/{id}/cancel/"): (  # the nurse is the requester
        lambda w, u: (f"/api/v1/equipment-requests/{w.request().pk}/cancel/", {}),
        only(200, "nurse", "dispatch"),
    ),
    ("get", "/api/v1/par-levels/"): (fixed("/api/v1/par-levels/"), READ),
    ("get", "/api/v1/par-levels/{id}/"): (
        lambda w, u: (f"/api/v1/par-levels/{w.par_level().pk}/", None),
        READ,
    ),
    ("get", "/api/v1/recalls/"): (fixed("/api/v1/recalls/"), READ),
    ("get", "/api/v1/recalls/{id}/"): (lambda w, u: (f"/api/v1/recalls/{w.recall().recall.pk}/", None), READ),
    ("get", "/api/v1/recalls/{id}/affected-assets/"): (
        lambda w, u: (f"/api/v1/recalls/{w.recall().recall.pk}/affected-assets/", None),
        READ,
    ),
    ("get", "/api/v1/work-orders/"): (fixed("/api/v1/work-orders/"), READ),
    ("get", "/api/v1/work-orders/{id}/"): (
        lambda w, u: (f"/api/v1/work-orders/{w.recall().opened[0].pk}/", None),
        READ,
    ),
    # Gateways only: a user's token does not open the ingest endpoint.
    ("post", "/api/v1/rtls/sightings"): (
        fixed("/api/v1/rtls/sightings", {"gateway": "gw-1", "sightings": []}),
        {r: 401 for r in ROLES},
    ),
    ("get", "/api/v1/webhooks/subscriptions/"): (
        fixed("/api/v1/webhooks/subscriptions/"),
        only(200, "dispatch", "security"),
    ),
    ("post", "/api/v1/webhooks/subscriptions/"): (
        fixed(
            "/api/v1/webhooks/subscriptions/",
            {"name": "b", "url": "https://93.184.216.34/h", "events": ["alert.raised"]},
        ),
        only(201, "dispatch", "security"),
    ),
    ("get", "/api/v1/webhooks/subscriptions/{id}/"): (
        lambda w, u: (f"/api/v1/webhooks/subscriptions/{w.subscription(u).pk}/", None),
        only(200, "dispatch", "security"),
    ),
    ("patch", "/api/v1/webhooks/subscriptions/{id}/"): (
        lambda w, u: (f"/api/v1/webhooks/subscriptions/{w.subscription(u).pk}/", {"active": False}),
        only(200, "dispatch", "security"),
    ),
    ("delete", "/api/v1/webhooks/subscriptions/{id}/"): (
        lambda w, u: (f"/api/v1/webhooks/subscriptions/{w.subscription(u).pk}/", None),
        only(204, "dispatch", "security"),
    ),
    ("get", "/api/v1/webhooks/deliveries/"): (fixed("/api/v1/webhooks/deliveries/"), only(200, "dispatch", "security")),
    ("get", "/api/v1/webhooks/deliveries/{id}/"): (
        lambda w, u: (f"/api/v1/webhooks/deliveries/{w.delivery(u).pk}/", None),
        only(200, "dispatch", "security"),
    ),
}


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {(method, path) for path, ops in schema["paths"].items() for method in ops if method in METHODS}


def test_every_operation_in_the_schema_has_a_matrix_entry():
    operations = schema_operations()
    missing = sorted(operations - set(MATRIX))
    stale = sorted(set(MATRIX) - operations)
    assert not missing, f"operations without a role matrix entry: {missing}"
    assert not stale, f"matrix entries for operations no longer in the schema: {stale}"
    assert all(set(expected) == set(ROLES) for _, expected in MATRIX.values())


# These need a fresh sign-in: the callers hold step-up tokens (a long-lived token gets 403 step_up_required,
# tests/accounts/test_fresh_sign_in.py).
STEP_UP = {
    ("post", "/api/v1/assets/{asset_id}/decommissioning/sign-offs/"),
    ("post", "/api/v1/assets/{asset_id}/decommissioning/decommission/"),
}


def matrix_client(operation, user) -> APIClient:
    """How ``user`` calls ``operation``: the map's calls with a signed-in session (they take no token), the
    others with an API token (a step-up token where one is needed)."""
    if operation[1].startswith("/api/v1/map/"):
        client = APIClient()
        if user is not None:
            client.force_login(user)
        return client
    return client_for(user, step_up=operation in STEP_UP)


@pytest.mark.parametrize("operation", sorted(MATRIX), ids=lambda op: f"{op[0].upper()} {op[1]}")
def test_role_gets_the_expected_status(db, operation):
    prepare, expected = MATRIX[operation]
    users = {
        role: UserFactory(username=f"m-{role}", roles=[group], password=None)
        for role, group in (
            ("nurse", "Nurse"),
            ("dispatch", "Dispatch"),
            ("clinical_engineering", "Clinical engineering"),
            ("security", "Security"),
        )
    }
    TagFactory()  # a spare tag in the building, as in real life
    world = World(users)
    got = {}
    for role in ROLES:
        user = users.get(role)
        with transaction.atomic():
            url, body = prepare(world, user)
            client = matrix_client(operation, user)
            response = (
                getattr(client, operation[0])(url, body, format="json")
                if body is not None
                else getattr(client, operation[0])(url)
            )
            got[role] = response.status_code
            transaction.set_rollback(True)
    assert got == expected, f"{operation[0].upper()} {operation[1]}: {got}"
