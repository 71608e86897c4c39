"""Who may do what: the one role x action table every door reads (docs/security.md).

The API permission classes, the admin (buttons, pages, bulk actions), the floor map and its WebSocket,
the gateway ingest fronts, the room-type-rule path and the state machine's ``permission=`` callables all
ask ``allowed(roles, action)``; the admin group permissions are derived from ``ADMIN_PERMISSIONS`` by the
data migration lifecycle/0007_role_permissions_from_policy. Change a rule here, and every door changes.

Pure: this module imports no models and no Django (issue 14: the "declarations" layer). The principals
are plain strings:

- the four staff roles, as the values of ``declarations.roles.Role`` (a Django group each);
- ``SUPERUSER``: added for an active superuser. A superuser is an administrator, not a role: it gets what
  the table gives it, and the table gives it no sign-off and no decommissioning (those are personal
  attestations by Clinical engineering and Security);
- ``SYSTEM``: the server itself (room-type rules), never a person;
- ``GATEWAY`` and ``SITE_COLLECTOR``: a gateway token for one gateway, or for every gateway of a site.
  Which gateway a token may post for is the token's scope, checked by the ingest front.

An inactive account, an anonymous caller, and a signed-in user with no role hold no principal at all, so
``allowed`` refuses them everything (least privilege, issue 13 defect 6).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """The staff roles; values equal ``declarations.roles.Role`` (a ``TextChoices``) so either may be passed."""

    NURSE = "nurse"
    DISPATCH = "dispatch"
    CLINICAL_ENGINEERING = "clinical_engineering"
    SECURITY = "security"

    @property
    def group_name(self) -> str:
        return ROLE_GROUP_NAMES[self]


ROLE_GROUP_NAMES = {
    Role.NURSE: "Nurse",
    Role.DISPATCH: "Dispatch",
    Role.CLINICAL_ENGINEERING: "Clinical engineering",
    Role.SECURITY: "Security",
}

# Principals that are not staff roles.
SUPERUSER = "superuser"
SYSTEM = "system"
GATEWAY = "gateway"
SITE_COLLECTOR = "site_collector"

PRINCIPAL_LABELS = {
    **{role.value: name for role, name in ROLE_GROUP_NAMES.items()},
    SUPERUSER: "superusers",
    SYSTEM: "the system (room-type rules)",
    GATEWAY: "a gateway's own token",
    SITE_COLLECTOR: "a site collector token",
}


class Action(StrEnum):
    # Reading ---------------------------------------------------------------------------------------
    READ_ASSETS = "assets.read"  # assets, types, states, history, requests, work orders, recalls, alerts
    READ_LOCATIONS = "locations.read"  # sites, buildings, floors, rooms, receivers (without positions)
    READ_SECURITY_FIELDS = "assets.read_security_fields"  # firmware, networked, encryption, risk, receiver x/y
    MAP_VIEW = "map.view"  # the floor map page, its JSON and its live WebSocket

    # The 11 asset transitions (declarations.transitions.TransitionName) -------------------------------
    RESERVE = "transition.reserve"
    RELEASE = "transition.release"
    DELIVER = "transition.deliver"
    START_USE = "transition.start_use"
    RETURN = "transition.return"
    START_CLEANING = "transition.start_cleaning"
    FINISH_CLEANING = "transition.finish_cleaning"
    SEND_TO_BIOMED = "transition.send_to_biomed"
    RETURN_TO_SERVICE = "transition.return_to_service"
    DECOMMISSION = "transition.decommission"  # also the decommissioning checklist's final step
    APPLY_ROOM_RULE = "transition.apply_room_rule"

    # Decommissioning checklist (lifecycle.decommissioning) -----------------------------------------
    CHECKLIST_VIEW = "checklist.view"
    CHECKLIST_OPEN = "checklist.open"
    CHECKLIST_EDIT = "checklist.edit"
    CHECKLIST_CUSTODY = "checklist.custody"
    CHECKLIST_TAG_DETACH = "checklist.tag_detach"
    SIGN_OFF_CLINICAL = "checklist.sign_off_clinical_engineering"
    SIGN_OFF_SECURITY = "checklist.sign_off_security"
    CERTIFICATE_VIEW = "checklist.certificate"

    # Equipment requests ----------------------------------------------------------------------------
    REQUEST_CREATE = "request.create"
    REQUEST_ASSIGN = "request.assign"
    REQUEST_DELIVER = "request.deliver"
    REQUEST_CANCEL_OWN = "request.cancel_own"
    REQUEST_CANCEL_OTHERS = "request.cancel_others"

    # Work orders (lifecycle.models.WorkOrder; scheduled work closes through the same transitions) ---
    WORK_ORDER_START = "work_order.start"
    WORK_ORDER_STOP = "work_order.stop"
    WORK_ORDER_COMPLETE = "work_order.complete"
    WORK_ORDER_CANCEL = "work_order.cancel"

    # Alerts and integrations -----------------------------------------------------------------------
    ALERT_HANDLE = "alert.handle"  # acknowledge, resolve
    WEBHOOK_MANAGE = "webhook.manage"  # create, list, change, delete subscriptions; read deliveries

    # Gateways --------------------------------------------------------------------------------------
    INGEST_SIGHTINGS = "ingest.sightings"  # HTTP POST /api/v1/rtls/sightings and MQTT rtls/<gw>/...

    # Admin pages (their Django model permissions: ADMIN_PERMISSIONS) --------------------------------
    ADMIN_INVENTORY_VIEW = "admin.inventory.view"
    ADMIN_INVENTORY_EDIT = "admin.inventory.edit"
    ADMIN_FLOOR_PLANS_EDIT = "admin.floor_plans.edit"
    ADMIN_GATEWAY_TOKENS_VIEW = "admin.gateway_tokens.view"
    ADMIN_GATEWAY_TOKENS_ISSUE = "admin.gateway_tokens.issue"
    ADMIN_AUDIT_VIEW = "admin.audit.view"
    ROOM_RULE_EDIT = "admin.room_rules.edit"
    WORK_ORDER_EDIT = "admin.work_orders.edit"
    PAR_LEVEL_EDIT = "admin.par_levels.edit"
    ADMIN_ALERTS = "admin.alerts.change"
    ADMIN_BIOMED_PROGRAMME = "admin.biomed.edit"  # schedules, plans, scheduled work, loans; reports
    ADMIN_LOANS_VIEW = "admin.loans.view"


A = Action
R = Role
NURSE, DISPATCH, CE, SEC = R.NURSE.value, R.DISPATCH.value, R.CLINICAL_ENGINEERING.value, R.SECURITY.value
STAFF = frozenset({NURSE, DISPATCH, CE, SEC})

# THE TABLE: action -> the principals allowed. Absent principal: refused. Read it as the product's promise.
TABLE: dict[Action, frozenset[str]] = {
    A.READ_ASSETS: STAFF | {SUPERUSER},
    A.READ_LOCATIONS: STAFF | {SUPERUSER},
    # Who needs to know a device's attack surface: the people who maintain and who secure it.
    A.READ_SECURITY_FIELDS: frozenset({CE, SEC, SUPERUSER}),
    # The map is for the floor; Security works from the admin and the audit trail.
    A.MAP_VIEW: frozenset({NURSE, DISPATCH, CE, SUPERUSER}),
    A.RESERVE: frozenset({DISPATCH, SUPERUSER}),
    A.RELEASE: frozenset({DISPATCH, SUPERUSER}),
    A.DELIVER: frozenset({DISPATCH, SUPERUSER}),
    A.START_USE: frozenset({NURSE, DISPATCH, SUPERUSER}),
    A.RETURN: frozenset({NURSE, DISPATCH, SUPERUSER}),
    A.START_CLEANING: frozenset({DISPATCH, CE, SUPERUSER}),
    A.FINISH_CLEANING: frozenset({DISPATCH, CE, SUPERUSER}),
    # Any member of staff may take a suspect device out of service (a reason is required).
    A.SEND_TO_BIOMED: STAFF | {SUPERUSER},
    A.RETURN_TO_SERVICE: frozenset({CE, SUPERUSER}),
    # No superuser: retiring a device is Clinical engineering's attested act (issue 13 defect 7).
    A.DECOMMISSION: frozenset({CE}),
    A.APPLY_ROOM_RULE: frozenset({SYSTEM}),
    A.CHECKLIST_VIEW: frozenset({CE, SEC, SUPERUSER}),
    A.CHECKLIST_OPEN: frozenset({CE, SEC, SUPERUSER}),
    A.CHECKLIST_EDIT: frozenset({CE, SEC, SUPERUSER}),
    A.CHECKLIST_CUSTODY: frozenset({CE, SEC, SUPERUSER}),
    A.CHECKLIST_TAG_DETACH: frozenset({CE, SEC, SUPERUSER}),
    # A sign-off is a personal attestation by the role it names; superuser status is not that role.
    A.SIGN_OFF_CLINICAL: frozenset({CE}),
    A.SIGN_OFF_SECURITY: frozenset({SEC}),
    A.CERTIFICATE_VIEW: frozenset({CE, SEC, SUPERUSER}),
    A.REQUEST_CREATE: frozenset({NURSE, DISPATCH, SUPERUSER}),
    A.REQUEST_ASSIGN: frozenset({DISPATCH, SUPERUSER}),
    A.REQUEST_DELIVER: frozenset({DISPATCH, SUPERUSER}),
    A.REQUEST_CANCEL_OWN: frozenset({NURSE, DISPATCH, SUPERUSER}),
    A.REQUEST_CANCEL_OTHERS: frozenset({DISPATCH, SUPERUSER}),
    # Maintenance is clinical engineering's work (the same people who may edit work orders in the admin).
    A.WORK_ORDER_START: frozenset({CE, SUPERUSER}),
    A.WORK_ORDER_STOP: frozenset({CE, SUPERUSER}),
    A.WORK_ORDER_COMPLETE: frozenset({CE, SUPERUSER}),
    A.WORK_ORDER_CANCEL: frozenset({CE, SUPERUSER}),
    A.ALERT_HANDLE: frozenset({DISPATCH, CE, SUPERUSER}),
    A.WEBHOOK_MANAGE: frozenset({DISPATCH, SEC, SUPERUSER}),
    A.INGEST_SIGHTINGS: frozenset({GATEWAY, SITE_COLLECTOR}),
    A.ADMIN_INVENTORY_VIEW: frozenset({CE, SEC, SUPERUSER}),
    A.ADMIN_INVENTORY_EDIT: frozenset({CE, SUPERUSER}),
    A.ADMIN_FLOOR_PLANS_EDIT: frozenset({CE, SUPERUSER}),
    A.ADMIN_GATEWAY_TOKENS_VIEW: frozenset({CE, SEC, SUPERUSER}),
    A.ADMIN_GATEWAY_TOKENS_ISSUE: frozenset({CE, SUPERUSER}),
    A.ADMIN_AUDIT_VIEW: frozenset({CE, SEC, SUPERUSER}),
    A.ROOM_RULE_EDIT: frozenset({CE, SUPERUSER}),
    A.WORK_ORDER_EDIT: frozenset({CE, SUPERUSER}),
    A.PAR_LEVEL_EDIT: frozenset({CE, SUPERUSER}),
    A.ADMIN_ALERTS: frozenset({CE, SUPERUSER}),
    # The biomed programme (docs/biomed.md) is clinical engineering's; Security sees what is off site.
    A.ADMIN_BIOMED_PROGRAMME: frozenset({CE, SUPERUSER}),
    A.ADMIN_LOANS_VIEW: frozenset({CE, SEC, SUPERUSER}),
}

# Django model permissions ("app_label.codename") an admin action needs. The role groups get exactly the
# permissions of the actions the table allows them (lifecycle/0007). Nobody deletes: records are history.
ADMIN_PERMISSIONS: dict[Action, tuple[str, ...]] = {
    A.ADMIN_INVENTORY_VIEW: (
        "assets.view_assettype",
        "assets.view_asset",
        "assets.view_tag",
        "assets.view_tagbinding",
    ),
    A.ADMIN_INVENTORY_EDIT: (
        "assets.add_assettype",
        "assets.change_assettype",
        "assets.add_asset",
        "assets.change_asset",
        "assets.add_tag",
        "assets.change_tag",
    ),
    A.ADMIN_FLOOR_PLANS_EDIT: tuple(
        f"locations.{verb}_{model}"
        for model in ("site", "building", "floor", "room", "receiver")
        for verb in ("view", "add", "change")
    )
    + ("locations.view_roominterval",),
    A.ADMIN_GATEWAY_TOKENS_VIEW: ("locations.view_gatewaytoken",),
    A.ADMIN_GATEWAY_TOKENS_ISSUE: ("locations.add_gatewaytoken", "locations.change_gatewaytoken"),
    A.ADMIN_AUDIT_VIEW: ("lifecycle.view_transitionlog", "lifecycle.view_changerecord"),
    A.ROOM_RULE_EDIT: ("lifecycle.view_roomtyperule", "lifecycle.add_roomtyperule", "lifecycle.change_roomtyperule"),
    A.WORK_ORDER_EDIT: (
        "lifecycle.view_workorder",
        "lifecycle.add_workorder",
        "lifecycle.change_workorder",
        "lifecycle.view_recall",
        "lifecycle.add_recall",
        "lifecycle.change_recall",
    ),
    A.PAR_LEVEL_EDIT: ("alerts.view_parlevel", "alerts.add_parlevel", "alerts.change_parlevel"),
    A.ADMIN_ALERTS: ("alerts.view_alert", "alerts.change_alert"),
    A.ADMIN_BIOMED_PROGRAMME: (
        *(
            f"biomed.{verb}_{model}"
            for model in ("scheduleplan", "maintenanceschedule", "loan")
            for verb in ("view", "add", "change")
        ),
        "biomed.view_scheduledwork",
        "biomed.change_scheduledwork",
    ),
    A.ADMIN_LOANS_VIEW: ("biomed.view_loan",),
}

# The transition names (declarations.transitions.TransitionName values) and their actions.
TRANSITION_ACTIONS: dict[str, Action] = {
    "reserve": A.RESERVE,
    "release": A.RELEASE,
    "deliver": A.DELIVER,
    "start_use": A.START_USE,
    "return": A.RETURN,
    "start_cleaning": A.START_CLEANING,
    "finish_cleaning": A.FINISH_CLEANING,
    "send_to_biomed": A.SEND_TO_BIOMED,
    "return_to_service": A.RETURN_TO_SERVICE,
    "decommission": A.DECOMMISSION,
    "apply_room_rule": A.APPLY_ROOM_RULE,
}


@dataclass(frozen=True)
class StatusTransition:
    """One django-fsm transition of a status field: from ``sources`` to ``target``, run by whom ``action``
    allows. ``own_action``, if set, is read instead when the user runs it on their own record."""

    sources: tuple[str, ...]
    target: str
    action: Action
    own_action: Action | None = None

    def action_for(self, *, own: bool) -> Action:
        return self.own_action if own and self.own_action is not None else self.action


# Equipment requests (lifecycle.requests.models.EquipmentRequest.status; lifecycle.requests.choices.
# RequestStatus values). Dispatch works the queue; the requester may cancel their own request.
REQUEST_TRANSITIONS: dict[str, StatusTransition] = {
    "assign": StatusTransition(("open",), "assigned", A.REQUEST_ASSIGN),
    "deliver": StatusTransition(("assigned",), "delivered", A.REQUEST_DELIVER),
    "cancel": StatusTransition(
        ("open", "assigned"), "cancelled", A.REQUEST_CANCEL_OTHERS, own_action=A.REQUEST_CANCEL_OWN
    ),
}

# Work orders (lifecycle.models.WorkOrder.status; WorkOrderStatus values). Done and cancelled are final:
# reopen by opening a new work order.
WORK_ORDER_TRANSITIONS: dict[str, StatusTransition] = {
    "start": StatusTransition(("open",), "in_progress", A.WORK_ORDER_START),
    "stop": StatusTransition(("in_progress",), "open", A.WORK_ORDER_STOP),
    "complete": StatusTransition(("open", "in_progress"), "done", A.WORK_ORDER_COMPLETE),
    "cancel": StatusTransition(("open", "in_progress"), "cancelled", A.WORK_ORDER_CANCEL),
}

# Actions that need the person at the keyboard now, whoever the table allows: a sign-in at most
# FRESH_SIGNIN_MINUTES old (a session), or a step-up token (password + second factor); a long-lived API token
# is refused (403 step_up_required). config.access.fresh_signin_check enforces it at the services every door
# calls (lifecycle.services.asset_transition, the decommissioning services), so no route can skip it.
FRESH_SIGNIN_ACTIONS: frozenset[Action] = frozenset({A.SIGN_OFF_CLINICAL, A.SIGN_OFF_SECURITY, A.DECOMMISSION})

# The two sign-offs (lifecycle.decommissioning.choices.SignOffRole values) and their actions.
SIGN_OFF_ACTIONS: dict[str, Action] = {CE: A.SIGN_OFF_CLINICAL, SEC: A.SIGN_OFF_SECURITY}


def allowed(roles: Iterable[str], action: Action | str) -> bool:
    """Whether any of ``roles`` (principals: role values, SUPERUSER, SYSTEM, GATEWAY...) may do ``action``.

    An unknown action raises KeyError: a door asking about something the table does not declare is a bug.
    """
    return not TABLE[Action(action)].isdisjoint(str(r) for r in roles)


def needs_fresh_signin(action: Action | str) -> bool:
    """Whether ``action`` also needs a fresh sign-in or a step-up token (FRESH_SIGNIN_ACTIONS)."""
    return Action(action) in FRESH_SIGNIN_ACTIONS


def who(action: Action | str) -> str:
    """Who may do ``action``, in words, for refusal messages and the docs."""
    principals = TABLE[Action(action)]
    order = [*(r.value for r in Role), SUPERUSER, SYSTEM, GATEWAY, SITE_COLLECTOR]
    return ", ".join(PRINCIPAL_LABELS[p] for p in order if p in principals) or "nobody"


def group_permissions(role: Role | str) -> frozenset[str]:
    """The Django permissions ("app_label.codename") a role's group holds: derived from the table."""
    return frozenset(
        permission
        for action, permissions in ADMIN_PERMISSIONS.items()
        if str(role) in TABLE[action]
        for permission in permissions
    )


def gateway_principal(*, gateway_id: str | None) -> str:
    """The principal of a verified gateway credential: its own gateway, or a site's collector."""
    return GATEWAY if gateway_id else SITE_COLLECTOR


def render_markdown_table() -> str:
    """The table as docs/security.md shows it (tests/security/test_policy.py keeps the two equal)."""
    columns = [*(r.value for r in Role), SUPERUSER, SYSTEM, GATEWAY, SITE_COLLECTOR]
    headers = ["Nurse", "Dispatch", "Clin. eng.", "Security", "superuser", "system", "gateway", "site coll."]
    lines = ["| action | " + " | ".join(headers) + " |", "| --- |" + " :-: |" * len(columns)]
    for action in Action:
        cells = ["yes" if p in TABLE[action] else "" for p in columns]
        lines.append(f"| `{action.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
