"""One policy for every door: role x door x action parity (issue 13, declarations/policy.py).

For every principal, credential, door and action:

- a door that offers the action gives the verdict of the policy table (``allowed(roles, action)``);
- a door that does not offer it (or does not take that credential) refuses;
- a refused action changes no domain row (transition log, assets, checklists, custody, sign-offs,
  certificates, requests, webhook subscriptions);
- a refusal is on the security event stream (the logger ``security``, config/security_events.py).

"Allowed" is observed from the effect (the row was written, the field was shown), not from a status code,
so an admin page that answers 302 with an error message still counts as a refusal.

Adding a principal or a credential (for example the step-up credential of the sign-in work) is one entry
in PRINCIPALS or CREDENTIALS; a credential that may never do some actions lists them in CREDENTIAL_REFUSES.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiTokenKind
from accounts.services import api_token_issue
from assets.models import Asset
from config.asgi import application  # at import: django.setup() there re-applies LOGGING (caplog's handler)
from declarations.policy import (
    GATEWAY,
    ROLE_GROUP_NAMES,
    SITE_COLLECTOR,
    SUPERUSER,
    TRANSITION_ACTIONS,
    Action,
    allowed,
)
from declarations.states import AssetState
from lifecycle.decommissioning import services as decommissioning
from lifecycle.decommissioning.models import (
    CustodyEntry,
    DecommissioningCertificate,
    DecommissioningChecklist,
    SignOff,
)
from lifecycle.models import TransitionLog, WorkOrder
from lifecycle.requests.models import EquipmentRequest
from lifecycle.requests.services import equipment_request_assign, equipment_request_create
from lifecycle.services import asset_transition
from lifecycle.webhooks.models import WebhookSubscription
from locations.ingest import auth, front, queue
from locations.ingest.auth import gateway_token_issue, gateway_token_revoke
from locations.ingest.mqtt import handle_message
from locations.models import GatewayToken
from locations.simulator import format_ts
from tests.api.conftest import build_api_hospital
from tests.factories import ReceiverFactory, UserFactory

FIRMWARE = "FW-SECRET-9.9.9"

# --------------------------------------------------------------------------------------------------------
# Principals and credentials: the one place to add a row.

_ROLE_BY_GROUP = {name: role.value for role, name in ROLE_GROUP_NAMES.items()}


@dataclass(frozen=True)
class Principal:
    groups: tuple[str, ...] = ()
    active: bool = True
    superuser: bool = False
    anonymous: bool = False

    @property
    def policy_roles(self) -> frozenset[str]:
        """What the table should see for this principal (written out here, not asked from the code)."""
        if self.anonymous or not self.active:
            return frozenset()
        return frozenset({_ROLE_BY_GROUP[g] for g in self.groups} | ({SUPERUSER} if self.superuser else set()))


ALL_GROUPS = tuple(ROLE_GROUP_NAMES.values())
PRINCIPALS = {
    "anonymous": Principal(anonymous=True),
    "no_role": Principal(),
    "inactive": Principal(groups=ALL_GROUPS, active=False, superuser=True),
    "nurse": Principal(groups=("Nurse",)),
    "dispatch": Principal(groups=("Dispatch",)),
    "clinical_engineering": Principal(groups=("Clinical engineering",)),
    "security": Principal(groups=("Security",)),
    "both_sign_off_roles": Principal(groups=("Clinical engineering", "Security")),
    "superuser": Principal(superuser=True),
}


def make_user(name: str, principal: Principal):
    if principal.anonymous:
        return None
    # Staff status only opens the admin site; what one may do there is the table's (and so for everyone here).
    user = UserFactory(username=f"p-{name}", password=None, is_staff=True, is_superuser=principal.superuser)
    user.groups.add(*Group.objects.filter(name__in=principal.groups))
    if not principal.active:
        user.is_active = False
        user.save()
    return user


def session_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)  # an inactive user's session is no session (ModelBackend)
    return client


def _token(user, kind) -> str:
    """A hashed API token (accounts.ApiToken) of ``kind``. An inactive principal keeps the token it was given
    while active: the door must refuse it."""
    active, user.is_active = user.is_active, True
    try:
        return api_token_issue(user=user, kind=kind).raw
    finally:
        user.is_active = active


def token_client(user) -> APIClient:
    """A long-lived API token (a script, an integration)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {_token(user, ApiTokenKind.API)}")
    return client


def step_up_client(user) -> APIClient:
    """A short-lived step-up token (POST /api/v1/auth/step-up/ with the password, and TOTP when enrolled)."""
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {_token(user, ApiTokenKind.STEP_UP)}")
    return client


CREDENTIALS: dict[str, Callable] = {"session": session_client, "token": token_client, "step_up": step_up_client}
# Actions a credential may never be used for, whatever the roles: a sign-off and a decommission are personal
# attestations, so a plain long-lived token is refused (403 step_up_required) and only a step-up token (or a
# freshly signed-in session) gets the table's verdict (docs/security.md, "Fresh sign-in").
STEP_UP_ACTIONS = frozenset({Action.SIGN_OFF_CLINICAL, Action.SIGN_OFF_SECURITY, Action.DECOMMISSION})
CREDENTIAL_REFUSES: dict[str, frozenset[Action]] = {
    "session": frozenset(),
    "token": STEP_UP_ACTIONS,
    "step_up": frozenset(),
}
# The credentials each user door takes.
DOOR_CREDENTIALS = {
    "api": {"session", "token", "step_up"},
    "admin": {"session"},
    "map": {"session"},
    "websocket": {"session"},
}


def expected(principal: Principal, credential: str, door: str, case: Case) -> bool:
    return (
        door in case.offers
        and credential in DOOR_CREDENTIALS[door]
        and case.action not in CREDENTIAL_REFUSES[credential]
        and allowed(principal.policy_roles, case.action)
    )


# --------------------------------------------------------------------------------------------------------
# The world each case starts from.


class World:
    def __init__(self):
        self.h = build_api_hospital()
        helpers = {
            "nurse": ("Nurse",),
            "dispatch": ("Dispatch",),
            "ce": ("Clinical engineering",),
            "sec": ("Security",),
        }
        self.helper = {}
        for key, groups in helpers.items():
            user = UserFactory(username=f"helper-{key}", password=None, is_staff=True)
            user.groups.add(*Group.objects.filter(name__in=groups))
            self.helper[key] = user
        self.users = {name: make_user(name, p) for name, p in PRINCIPALS.items()}

    def asset(self, state=AssetState.AVAILABLE, **kwargs):
        kwargs.setdefault("asset_tag", f"PAR-{uuid.uuid4().hex[:8]}")
        asset = self.h.place("W402", **kwargs)
        if state != AssetState.AVAILABLE:
            Asset.objects.filter(pk=asset.pk).update(state=state)
            asset.refresh_from_db()
        return asset

    def in_biomed(self, *, opened=False, complete=False, signed=False, decommissioned=False):
        ce, sec = self.helper["ce"], self.helper["sec"]
        asset = self.asset(data_bearing=False, networked=False)
        asset_transition(asset=asset, transition="send_to_biomed", user=ce, note="end of life")
        checklist = None
        if opened or complete or signed or decommissioned:
            checklist = decommissioning.checklist_open(asset=asset, user=ce)
        if complete or signed or decommissioned:
            checklist = decommissioning.checklist_update(
                checklist=checklist, user=ce, changes={"final_disposition": "recycle", "disposition_recipient": "Rx"}
            )
            checklist = decommissioning.checklist_record_tag_detached(checklist=checklist, user=ce)
            decommissioning.custody_entry_add(
                checklist=checklist,
                user=ce,
                from_party="4 West",
                to_party="Rx",
                place="dock",
                transferred_at=timezone.now() - timedelta(hours=1),
            )
            checklist.refresh_from_db()
        if signed or decommissioned:
            for user, role in ((ce, "clinical_engineering"), (sec, "security")):
                decommissioning.checklist_sign_off(checklist=checklist, user=user, role=role, version=checklist.version)
            checklist.refresh_from_db()
        if decommissioned:
            decommissioning.asset_decommission(asset=asset, user=ce)
        asset.refresh_from_db()
        return asset, checklist

    def request(self, *, by=None, assigned=False):
        self.asset()  # an available pump near the ward
        r = equipment_request_create(user=self.helper["nurse"], asset_type=self.h.pump, destination_room=self.h.ward)
        if by is not None:
            EquipmentRequest.objects.filter(pk=r.pk).update(requested_by=by)
        if assigned:
            r = equipment_request_assign(equipment_request=r, user=self.helper["dispatch"])
        return r


def domain_rows():
    """Everything a refused action must leave as it was."""
    return (
        list(TransitionLog.objects.order_by("pk").values_list("pk", "asset_id", "to_state")),
        list(Asset.objects.order_by("pk").values_list("pk", "state")),
        list(DecommissioningChecklist.objects.order_by("pk").values_list("pk", "version", "tag_detached")),
        CustodyEntry.objects.count(),
        list(SignOff.objects.order_by("pk").values_list("pk", "role", "signed_by_id")),
        DecommissioningCertificate.objects.count(),
        list(EquipmentRequest.objects.order_by("pk").values_list("pk", "status")),
        WebhookSubscription.objects.count(),
        list(WorkOrder.objects.order_by("pk").values_list("pk", "status")),
        list(GatewayToken.objects.order_by("pk").values_list("pk", "revoked_at")),
    )


# --------------------------------------------------------------------------------------------------------
# Actions: how each door attempts it, and how its effect is seen.


@dataclass
class Case:
    action: Action
    setup: Callable  # (world, user) -> ctx dict
    done: Callable  # (ctx, response) -> bool: did the action take effect / was the thing shown?
    doors: dict[str, Callable] = field(default_factory=dict)  # door -> (client, ctx) -> response: how to try
    offers: frozenset[str] | None = None  # the doors that offer it (default: all tried); the others must refuse

    def __post_init__(self):
        if self.offers is None:
            self.offers = frozenset(self.doors)


def _json(client, method, url, body=None):
    return getattr(client, method)(url, body if body is not None else {}, format="json")


def _map_post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


TRANSITION_FROM = {
    "reserve": (AssetState.AVAILABLE, {}),
    "release": (AssetState.RESERVED, {}),
    "deliver": (AssetState.RESERVED, {}),
    "start_use": (AssetState.AVAILABLE, {}),
    "return": (AssetState.IN_USE, {}),
    "start_cleaning": (AssetState.SOILED, {}),
    "finish_cleaning": (AssetState.CLEANING, {}),
    "send_to_biomed": (AssetState.IN_USE, {"note": "alarm fails self-test"}),
    "return_to_service": (AssetState.BIOMED, {"to_state": AssetState.AVAILABLE}),
    "decommission": (None, {}),  # a signed, complete checklist: World.in_biomed(signed=True)
    "apply_room_rule": (AssetState.IN_USE, {"to_state": AssetState.SOILED}),
}
MAP_OFFERS = {"start_use", "return"}


def transition_case(name: str) -> Case:
    state, extra = TRANSITION_FROM[name]

    def setup(w, user):
        asset = w.in_biomed(signed=True)[0] if state is None else w.asset(state=state)
        return {"asset": asset, "logs": TransitionLog.objects.filter(asset=asset).count()}

    def done(ctx, response):
        return TransitionLog.objects.filter(asset=ctx["asset"]).count() > ctx["logs"]

    def api(client, ctx):
        return _json(client, "post", f"/api/v1/assets/{ctx['asset'].pk}/transitions/", {"transition": name, **extra})

    def admin(client, ctx):
        body = {"note": extra.get("note", "parity"), "state": ctx["asset"].state}
        if "to_state" in extra:
            body["to_state"] = extra["to_state"]
        return client.post(f"/admin/assets/asset/{ctx['asset'].pk}/transition/{name}/", body)

    def map_(client, ctx):
        return _map_post(
            client,
            f"/api/v1/map/assets/{ctx['asset'].pk}/action/",
            {"action": name, "expected_state": ctx["asset"].state},
        )

    # Every door is tried for every transition. The map offers only start_use and return; no user door
    # offers apply_room_rule (the system's, from the location pipeline: tests/lifecycle/test_room_rules.py).
    if name == "apply_room_rule":
        offers = frozenset()
    else:
        offers = frozenset({"api", "admin"} | ({"map"} if name in MAP_OFFERS else set()))
    return Case(TRANSITION_ACTIONS[name], setup, done, {"api": api, "admin": admin, "map": map_}, offers)


def _checklist_admin_data(w, checklist, **changes):
    """The change form as the browser would post it (read as a helper who may open it), plus changes."""
    reader = session_client(w.helper["ce"])
    page = reader.get(f"/admin/decommissioning/decommissioningchecklist/{checklist.pk}/change/")
    assert page.status_code == 200
    data = {}
    form = page.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if value not in (None, False):
            data[name] = "on" if value is True else value
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
    data.update(changes)
    return data


def checklist_cases() -> list[Case]:
    base = "/api/v1/assets/{}/decommissioning/"

    def api_url(ctx, rest=""):
        return base.format(ctx["asset"].pk) + rest

    def change_url(ctx, rest="change/"):
        return f"/admin/decommissioning/decommissioningchecklist/{ctx['checklist'].pk}/{rest}"

    def opened(w, user):
        asset, checklist = w.in_biomed(opened=True)
        return {"w": w, "asset": asset, "checklist": checklist, "version": checklist.version}

    def complete(w, user):
        asset, checklist = w.in_biomed(complete=True)
        return {"w": w, "asset": asset, "checklist": checklist, "version": checklist.version}

    def signed(w, user):
        asset, checklist = w.in_biomed(signed=True)
        return {"w": w, "asset": asset, "checklist": checklist}

    def version_grew(ctx, response):
        return DecommissioningChecklist.objects.get(pk=ctx["checklist"].pk).version > ctx["version"]

    def custody_added(ctx, response):
        return CustodyEntry.objects.filter(checklist=ctx["checklist"]).exists()

    def signed_as(role):
        return lambda ctx, response: SignOff.objects.filter(checklist=ctx["checklist"], role=role).exists()

    def sign_off(role):
        action = Action.SIGN_OFF_CLINICAL if role == "clinical_engineering" else Action.SIGN_OFF_SECURITY
        return Case(
            action,
            complete,
            signed_as(role),
            {
                "api": lambda c, ctx: _json(
                    c, "post", api_url(ctx, "sign-offs/"), {"role": role, "version": ctx["version"]}
                ),
                "admin": lambda c, ctx: c.post(change_url(ctx, "sign-off/"), {"role": role, "version": ctx["version"]}),
            },
        )

    transferred = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
    custody = {"from_party": "4 West", "to_party": "Biomed", "place": "B2", "transferred_at": transferred.isoformat()}

    def admin_custody(c, ctx):
        w = ctx["w"]
        data = _checklist_admin_data(w, ctx["checklist"], seen_version=ctx["version"])
        prefix = next(k for k in data if k.endswith("-TOTAL_FORMS") and data[k] == 1).removesuffix("-TOTAL_FORMS")
        local = timezone.localtime(transferred)
        data.update(
            {
                f"{prefix}-0-from_party": "4 West",
                f"{prefix}-0-to_party": "Biomed",
                f"{prefix}-0-place": "B2",
                f"{prefix}-0-transferred_at_0": local.date().isoformat(),
                f"{prefix}-0-transferred_at_1": local.time().isoformat(),
            }
        )
        return c.post(change_url(ctx), data)

    def certificate(w, user):
        asset, checklist = w.in_biomed(decommissioned=True)
        return {"asset": asset, "certificate": DecommissioningCertificate.objects.get(asset=asset)}

    def certificate_shown(ctx, response):
        return response.status_code == 200 and str(ctx["certificate"].pk) in response.content.decode()

    return [
        Case(
            Action.CHECKLIST_OPEN,
            lambda w, user: {"asset": w.in_biomed()[0]},
            lambda ctx, r: DecommissioningChecklist.objects.filter(asset=ctx["asset"]).exists(),
            {
                "api": lambda c, ctx: _json(c, "post", api_url(ctx)),
                "admin": lambda c, ctx: c.post(
                    "/admin/decommissioning/decommissioningchecklist/add/", {"asset": ctx["asset"].pk}
                ),
            },
        ),
        Case(
            Action.CHECKLIST_EDIT,
            opened,
            version_grew,
            {
                "api": lambda c, ctx: _json(c, "patch", api_url(ctx), {"disposition_reference": "WTN-1"}),
                "admin": lambda c, ctx: c.post(
                    change_url(ctx),
                    _checklist_admin_data(
                        ctx["w"], ctx["checklist"], disposition_reference="WTN-1", seen_version=ctx["version"]
                    ),
                ),
            },
        ),
        Case(
            Action.CHECKLIST_CUSTODY,
            opened,
            custody_added,
            {"api": lambda c, ctx: _json(c, "post", api_url(ctx, "custody-entries/"), custody), "admin": admin_custody},
        ),
        Case(
            Action.CHECKLIST_TAG_DETACH,
            opened,
            lambda ctx, r: DecommissioningChecklist.objects.get(pk=ctx["checklist"].pk).tag_detached,
            {
                "api": lambda c, ctx: _json(c, "post", api_url(ctx, "tag-detachment/")),
                "admin": lambda c, ctx: c.post(change_url(ctx, "detach-tag/")),
            },
        ),
        sign_off("clinical_engineering"),
        sign_off("security"),
        Case(
            Action.DECOMMISSION,
            signed,
            lambda ctx, r: Asset.objects.get(pk=ctx["asset"].pk).state == AssetState.DECOMMISSIONED,
            {
                "api": lambda c, ctx: _json(c, "post", api_url(ctx, "decommission/")),
                "admin": lambda c, ctx: c.post(change_url(ctx, "decommission/"), {"note": ""}),
            },
        ),
        Case(
            Action.CERTIFICATE_VIEW,
            certificate,
            certificate_shown,
            {
                "api": lambda c, ctx: c.get(api_url(ctx, "certificate/")),
                "admin": lambda c, ctx: c.get(f"/decommissioning/certificates/{ctx['certificate'].pk}/"),
            },
        ),
    ]


def _gateway_token(w) -> GatewayToken:
    receiver = ReceiverFactory(floor=w.h.ward.floor, gateway_id=f"gw-{uuid.uuid4().hex[:8]}")
    return gateway_token_issue(gateway_id=receiver.gateway_id).token


def other_cases() -> list[Case]:
    def with_request(**kwargs):
        def setup(w, user):
            by = user if kwargs.get("own") else None
            return {"request": w.request(by=by, assigned=kwargs.get("assigned", False))}

        return setup

    def status_is(status):
        return lambda ctx, r: EquipmentRequest.objects.get(pk=ctx["request"].pk).status == status

    def request_url(ctx, rest):
        return f"/api/v1/equipment-requests/{ctx['request'].pk}/{rest}"

    def shows_firmware(ctx, response):
        return response.status_code == 200 and FIRMWARE in response.content.decode()

    return [
        Case(
            Action.WEBHOOK_MANAGE,
            lambda w, user: {"count": WebhookSubscription.objects.count()},
            lambda ctx, r: WebhookSubscription.objects.count() > ctx["count"],
            {
                "api": lambda c, ctx: _json(
                    c,
                    "post",
                    "/api/v1/webhooks/subscriptions/",
                    {"name": "board", "url": "https://93.184.216.34/hook", "events": ["alert.raised"]},
                ),
                # Not offered by the admin (lifecycle/webhooks/admin.py): the add page refuses everyone.
                "admin": lambda c, ctx: c.post(
                    "/admin/webhooks/webhooksubscription/add/",
                    {"name": "board", "url": "https://93.184.216.34/hook", "events": ["alert.raised"], "active": "on"},
                ),
            },
            offers=frozenset({"api"}),
        ),
        Case(
            Action.READ_SECURITY_FIELDS,
            lambda w, user: {"asset": w.asset(firmware_version=FIRMWARE, networked=True)},
            shows_firmware,
            {
                "api": lambda c, ctx: c.get(f"/api/v1/assets/{ctx['asset'].pk}/"),
                "admin": lambda c, ctx: c.get(f"/admin/assets/asset/{ctx['asset'].pk}/change/"),
                # Not offered by the map: its JSON never carries them.
                "map": lambda c, ctx: c.get(f"/api/v1/map/floors/{ctx['asset'].current_room.floor_id}/assets/"),
            },
            offers=frozenset({"api", "admin"}),
        ),
        Case(
            Action.REQUEST_CREATE,
            lambda w, user: {"w": w, "count": EquipmentRequest.objects.count()},
            lambda ctx, r: EquipmentRequest.objects.count() > ctx["count"],
            {
                "api": lambda c, ctx: _json(
                    c,
                    "post",
                    "/api/v1/equipment-requests/",
                    {"asset_type": "infusion-pump", "destination_room": ctx["w"].h.ward.pk},
                ),
                "map": lambda c, ctx: _map_post(
                    c, "/api/v1/map/requests/", {"asset_type": ctx["w"].h.pump.pk, "room": ctx["w"].h.ward.pk}
                ),
                # Not offered by the admin (read-only request list).
                "admin": lambda c, ctx: c.post(
                    "/admin/equipment_requests/equipmentrequest/add/",
                    {"asset_type": ctx["w"].h.pump.pk, "destination_room": ctx["w"].h.ward.pk, "priority": "routine"},
                ),
            },
            offers=frozenset({"api", "map"}),
        ),
        Case(
            Action.REQUEST_ASSIGN,
            with_request(),
            status_is("assigned"),
            {"api": lambda c, ctx: _json(c, "post", request_url(ctx, "assign/"))},
        ),
        Case(
            Action.REQUEST_DELIVER,
            with_request(assigned=True),
            status_is("delivered"),
            {"api": lambda c, ctx: _json(c, "post", request_url(ctx, "deliver/"))},
        ),
        Case(
            Action.REQUEST_CANCEL_OWN,
            with_request(own=True),
            status_is("cancelled"),
            {"api": lambda c, ctx: _json(c, "post", request_url(ctx, "cancel/"))},
        ),
        Case(
            Action.REQUEST_CANCEL_OTHERS,
            with_request(),
            status_is("cancelled"),
            {"api": lambda c, ctx: _json(c, "post", request_url(ctx, "cancel/"))},
        ),
        # Admin bulk actions (the admin alone offers them): their Django permissions are derived from the table.
        Case(
            Action.WORK_ORDER_EDIT,
            lambda w, user: {"asset": w.asset()},
            lambda ctx, r: WorkOrder.objects.filter(asset=ctx["asset"]).exists(),
            {
                "admin": lambda c, ctx: c.post(
                    "/admin/assets/asset/", {"action": "open_pm_work_orders", "_selected_action": [ctx["asset"].pk]}
                )
            },
        ),
        Case(
            Action.ADMIN_GATEWAY_TOKENS_ISSUE,
            lambda w, user: {"token": _gateway_token(w)},
            lambda ctx, r: GatewayToken.objects.get(pk=ctx["token"].pk).revoked_at is not None,
            {
                "admin": lambda c, ctx: c.post(
                    "/admin/locations/gatewaytoken/", {"action": "revoke", "_selected_action": [ctx["token"].pk]}
                )
            },
        ),
        Case(
            Action.MAP_VIEW,
            lambda w, user: {"floor": w.h.ward.floor_id},
            lambda ctx, r: r.status_code == 200,
            {"map": lambda c, ctx: c.get(f"/api/v1/map/floors/{ctx['floor']}/assets/")},
        ),
    ]


def _named_cases() -> dict[str, Case]:
    """Every case under its own name. Two routes to one action (decommission: the transitions endpoint and the
    checklist's own) are two cases: keyed by action alone, the second hid the first, and a long-lived token
    decommissioned through /transitions/ unseen."""
    named = [(f"transition.{name}", transition_case(name)) for name in TRANSITION_FROM]
    named += [(f"checklist:{case.action.value}", case) for case in checklist_cases()]
    named += [(case.action.value, case) for case in other_cases()]
    cases = {}
    for name, case in named:
        assert name not in cases, f"two parity cases named {name}: one would hide the other"
        cases[name] = case
    return cases


CASES = _named_cases()
USER_DOORS = ("api", "admin", "map")


@pytest.fixture(autouse=True)
def _quiet(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()  # API throttle counters
    yield
    cache.clear()


def security_events(caplog) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "security"]


@pytest.mark.django_db
@pytest.mark.parametrize("case_name", sorted(CASES))
def test_every_door_gives_the_tables_verdict(case_name, caplog):
    caplog.set_level(logging.WARNING, logger="security")
    case = CASES[case_name]
    w = World()
    got, want, problems = {}, {}, []
    for door in USER_DOORS:
        attempt = case.doors.get(door)
        for principal_name, principal in PRINCIPALS.items():
            for credential, make_client in CREDENTIALS.items():
                key = f"{door}/{principal_name}/{credential}"
                user = w.users[principal_name]
                want[key] = expected(principal, credential, door, case)
                if attempt is None:  # the door has no way to even ask for it
                    got[key] = False
                    continue
                with transaction.atomic():
                    ctx = case.setup(w, user)
                    before = domain_rows()
                    caplog.clear()
                    response = attempt(make_client(user), ctx)
                    assert response.status_code < 500, (key, response.status_code)
                    got[key] = bool(case.done(ctx, response))
                    if not got[key]:
                        if domain_rows() != before:
                            problems.append(f"{key}: refused, but domain rows changed")
                        # A refusal of something not offered is bad input, not policy. Fields left out of an
                        # answer the caller may read (200) are not a refusal event either.
                        if door in case.offers and response.status_code != 200:
                            if not security_events(caplog):
                                problems.append(f"{key}: refused ({response.status_code}) with no security event")
                    transaction.set_rollback(True)
    mismatches = {k: (got[k], want[k]) for k in got if got[k] != want[k]}
    assert not mismatches, f"{case_name}: (door/principal/credential: got, table says) {mismatches}"
    assert not problems, problems


def test_the_parity_matrix_covers_every_action_the_issue_names():
    named = set(TRANSITION_ACTIONS.values()) | {
        Action.CHECKLIST_OPEN,
        Action.CHECKLIST_EDIT,
        Action.CHECKLIST_CUSTODY,
        Action.CHECKLIST_TAG_DETACH,
        Action.SIGN_OFF_CLINICAL,
        Action.SIGN_OFF_SECURITY,
        Action.DECOMMISSION,
        Action.CERTIFICATE_VIEW,
        Action.WEBHOOK_MANAGE,
        Action.READ_SECURITY_FIELDS,
        Action.REQUEST_CREATE,
        Action.REQUEST_ASSIGN,
        Action.REQUEST_DELIVER,
        Action.REQUEST_CANCEL_OWN,
        Action.REQUEST_CANCEL_OTHERS,
        Action.MAP_VIEW,
    }
    assert named <= {case.action for case in CASES.values()}
    # Every action with a user door is attempted by at least one door that offers it to somebody.
    for name, case in CASES.items():
        assert case.doors, name


# --------------------------------------------------------------------------------------------------------
# The WebSocket door (its consumer reads the database from another thread: committed data).


@pytest.mark.django_db(transaction=True)
async def test_the_websocket_gives_the_tables_verdict(caplog):
    caplog.set_level(logging.WARNING, logger="security")
    hospital = await database_sync_to_async(build_api_hospital)()
    users = {}
    for name, principal in PRINCIPALS.items():
        users[name] = await database_sync_to_async(make_user)(name, principal)
    case = Case(Action.MAP_VIEW, None, None, {"websocket": None})
    got, want = {}, {}
    for name, principal in PRINCIPALS.items():
        for credential in CREDENTIALS:
            key = f"websocket/{name}/{credential}"
            want[key] = expected(principal, credential, "websocket", case)
            headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
            user = users[name]
            if user is not None and credential == "session":
                client = await database_sync_to_async(session_client)(user)
                headers.append(
                    (
                        b"cookie",
                        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode(),
                    )
                )
            elif user is not None:
                token = await database_sync_to_async(_token)(user, ApiTokenKind.API)
                headers.append((b"authorization", f"Token {token}".encode()))
            caplog.clear()
            communicator = WebsocketCommunicator(application, f"/ws/floors/{hospital.ward.floor_id}/", headers=headers)
            connected, _ = await communicator.connect(timeout=3)
            got[key] = connected
            if not connected:
                assert security_events(caplog), f"{key}: refused with no security event"
            await communicator.disconnect()
    await database_sync_to_async(connections.close_all)()
    assert got == want


# --------------------------------------------------------------------------------------------------------
# Gateway doors: HTTP ingest and MQTT, with gateway principals.


@dataclass(frozen=True)
class GatewayPrincipal:
    roles: frozenset[str]  # what the table sees
    in_scope: bool  # whether the token's scope covers the gateway the batch is for


GATEWAY_PRINCIPALS = {
    "own_gateway": GatewayPrincipal(frozenset({GATEWAY}), True),
    "another_gateway": GatewayPrincipal(frozenset({GATEWAY}), False),
    "site_collector": GatewayPrincipal(frozenset({SITE_COLLECTOR}), True),
    "revoked": GatewayPrincipal(frozenset(), True),
}
# The MQTT door has no tokens: the broker authenticates a publisher for its own topic (docs/gateways.md), so
# a site collector and a revoked token do not exist there. A publisher naming another gateway is the case.
MQTT_PRINCIPALS = ("own_gateway", "another_gateway")


@pytest.fixture
def ingest_queue():
    auth.forget_cached_credentials()
    front.gateway_directory.forget()
    url = os.environ.get("REDIS_URL")
    if url:
        q = queue.RedisStreamQueue(url=url, prefix=f"parity-{uuid.uuid4().hex[:8]}", shards=2)
    else:
        q = queue.InMemoryQueue(shards=2)
    queue.set_queue(q)
    yield q
    queue.set_queue(None)
    auth.forget_cached_credentials()
    front.gateway_directory.forget()


def _batch(gateway_id: str) -> dict:
    now = time.time()
    return {
        "gateway": gateway_id,
        "sent_at": format_ts(now),
        "sightings": [{"tag": "C3:00:00:00:01:0A", "rssi": -60, "ts": format_ts(now - 1)}],
    }


@pytest.mark.django_db
def test_the_gateway_doors_give_the_tables_verdict(ingest_queue, caplog):
    caplog.set_level(logging.WARNING, logger="security")
    h = build_api_hospital()
    target = ReceiverFactory(floor=h.ward.floor, gateway_id="gw-parity-target")
    other = ReceiverFactory(floor=h.ward.floor, gateway_id="gw-parity-other")
    revoked = gateway_token_issue(gateway_id=target.gateway_id)
    gateway_token_revoke(token=revoked.token)
    tokens = {
        "own_gateway": gateway_token_issue(gateway_id=target.gateway_id).raw,
        "another_gateway": gateway_token_issue(gateway_id=other.gateway_id).raw,
        "site_collector": gateway_token_issue(site=h.ward.site.code).raw,
        "revoked": revoked.raw,
    }
    got, want = {}, {}
    for name, principal in GATEWAY_PRINCIPALS.items():
        key = f"http_ingest/{name}"
        want[key] = principal.in_scope and allowed(principal.roles, Action.INGEST_SIGHTINGS)
        entries = ingest_queue.lag().entries
        caplog.clear()
        answer = APIClient().post(
            "/api/v1/rtls/sightings",
            json.dumps(_batch(target.gateway_id)),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {tokens[name]}",
        )
        got[key] = answer.status_code == 202 and ingest_queue.lag().entries > entries
        if not got[key]:
            assert answer.status_code in (401, 403) and ingest_queue.lag().entries == entries, key
            assert security_events(caplog), f"{key}: refused with no security event"
    for name in MQTT_PRINCIPALS:
        principal = GATEWAY_PRINCIPALS[name]
        key = f"mqtt/{name}"
        want[key] = principal.in_scope and allowed(principal.roles, Action.INGEST_SIGHTINGS)
        publisher = target.gateway_id if principal.in_scope else other.gateway_id  # the broker-checked topic
        entries = ingest_queue.lag().entries
        caplog.clear()
        outcome = handle_message(
            f"rtls/{publisher}/sightings",
            json.dumps(_batch(target.gateway_id)).encode(),
            prefix="rtls",
            queue=ingest_queue,
        )
        got[key] = outcome.status == "accepted" and ingest_queue.lag().entries > entries
        if not got[key]:
            assert ingest_queue.lag().entries == entries, key
            assert security_events(caplog), f"{key}: refused with no security event"
    # User principals never pass a gateway door.
    user = make_user("gw-door-dispatch", PRINCIPALS["dispatch"])
    for key, client in {"session": session_client(user), "token": token_client(user)}.items():
        answer = client.post("/api/v1/rtls/sightings", _batch(target.gateway_id), format="json")
        got[f"http_ingest/user-{key}"], want[f"http_ingest/user-{key}"] = answer.status_code == 202, False
    assert got == want
