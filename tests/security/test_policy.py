"""The policy table itself (declarations/policy.py): pure, complete, and what the database holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.utils.module_loading import import_string

from declarations import policy
from declarations.policy import SUPERUSER, SYSTEM, Action, Role, allowed
from declarations.roles import Role as GroupRole
from declarations.transitions import TransitionName
from lifecycle.decommissioning.choices import SignOffRole
from tests.factories import UserFactory


def test_the_declarations_import_no_django_and_no_models():
    code = (
        "import sys, declarations.policy; "
        "ours = ('django', 'assets', 'lifecycle', 'locations', 'rest_framework'); "
        "bad = sorted(m for m in sys.modules if m.startswith(ours)); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"declarations.policy imported {done.stdout.strip()}"


def test_every_action_has_a_row_and_every_row_names_known_principals():
    known = {r.value for r in Role} | {SUPERUSER, SYSTEM, policy.GATEWAY, policy.SITE_COLLECTOR}
    assert set(policy.TABLE) == set(Action)
    for action, principals in policy.TABLE.items():
        assert principals <= known, action


def test_every_transition_and_sign_off_has_its_action():
    assert set(policy.TRANSITION_ACTIONS) == set(TransitionName.values)
    assert set(policy.SIGN_OFF_ACTIONS) == set(SignOffRole.values)


@pytest.mark.parametrize(
    ("model_path", "declared", "statuses"),
    [
        (
            "lifecycle.requests.models.EquipmentRequest",
            policy.REQUEST_TRANSITIONS,
            "lifecycle.requests.choices.RequestStatus",
        ),
        ("lifecycle.models.WorkOrder", policy.WORK_ORDER_TRANSITIONS, "lifecycle.models.WorkOrderStatus"),
    ],
)
def test_requests_and_work_orders_run_exactly_the_transitions_the_table_declares(model_path, declared, statuses):
    """Each entry of the table is one django-fsm transition of the model: same name, sources, target and roles."""
    model, status_choices = import_string(model_path), import_string(statuses)
    field = model._meta.get_field("status")
    built = {}
    for t in field.get_all_transitions(model):
        built.setdefault(t.name, set()).add((t.source, t.target, t.permission))
    assert set(built) == set(declared)
    for name, entry in declared.items():
        assert {(source, target) for source, target, _ in built[name]} == {(s, entry.target) for s in entry.sources}
        assert {entry.target, *entry.sources} <= set(status_choices.values)
        for *_, permission in built[name]:
            assert permission.declared is entry


def test_the_roles_are_the_groups_of_the_role_migration():
    assert {r.value: r.group_name for r in Role} == {r.value: r.group_name for r in GroupRole}


@pytest.mark.parametrize("action", [Action.SIGN_OFF_CLINICAL, Action.SIGN_OFF_SECURITY, Action.DECOMMISSION])
def test_a_superuser_has_no_implicit_pass_for_sign_offs_and_decommissioning(action):
    assert not allowed({SUPERUSER}, action)
    assert not allowed(set(), action)


def test_nothing_for_no_principal_and_only_the_system_applies_room_rules():
    assert not any(allowed(set(), action) for action in Action)
    assert allowed({SYSTEM}, Action.APPLY_ROOM_RULE)
    assert [a for a in Action if allowed({SYSTEM}, a)] == [Action.APPLY_ROOM_RULE]
    assert not allowed({r.value for r in Role} | {SUPERUSER}, Action.APPLY_ROOM_RULE)


def test_gateways_may_post_sightings_and_nothing_else():
    for principal in (policy.GATEWAY, policy.SITE_COLLECTOR):
        assert [a for a in Action if allowed({principal}, a)] == [Action.INGEST_SIGHTINGS]


def test_unknown_action_is_a_bug_not_a_refusal():
    with pytest.raises(ValueError):
        allowed({"dispatch"}, "launch.missiles")


@pytest.mark.django_db
def test_the_role_groups_hold_exactly_the_admin_permissions_the_table_derives():
    """lifecycle/0007 derives them; a table change without a new sync migration fails here."""
    for role in Role:
        group = Group.objects.get(name=role.group_name)
        held = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}
        assert held == set(policy.group_permissions(role)), role
    assert policy.group_permissions(Role.NURSE) == frozenset()
    assert "assets.change_asset" in policy.group_permissions(Role.CLINICAL_ENGINEERING)
    assert "assets.change_asset" not in policy.group_permissions(Role.SECURITY)


def test_docs_show_the_table():
    text = (Path(settings.BASE_DIR) / "docs" / "security.md").read_text()
    shown = text.split("<!-- policy-table:start -->\n", 1)[1].split("\n<!-- policy-table:end -->", 1)[0]
    assert shown == policy.render_markdown_table(), "docs/security.md's table is out of date"


@pytest.mark.django_db
def test_no_role_manages_api_tokens_in_the_admin(client):
    """Only superusers manage API tokens in the admin: no role's group holds an accounts.* permission."""
    for group in Group.objects.filter(name__in=[r.value for r in GroupRole]):
        assert not group.permissions.filter(content_type__app_label="accounts").exists(), group.name
    for roles in (["Security"], ["Clinical engineering"], ["Dispatch"], ["Nurse"]):
        staff = UserFactory(username=f"staff-{roles[0][:4].lower()}", roles=roles, is_staff=True)
        client.force_login(staff)
        assert client.get("/admin/accounts/apitoken/").status_code == 403, roles
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    assert client.get("/admin/accounts/apitoken/").status_code == 200


def test_sign_offs_and_decommissioning_need_a_fresh_sign_in_and_nothing_else_does():
    """The personal attestations need the person at the keyboard now (a step-up token or a fresh session);
    tests/security/test_parity.py runs every route to them with a long-lived token."""
    assert policy.FRESH_SIGNIN_ACTIONS == {Action.SIGN_OFF_CLINICAL, Action.SIGN_OFF_SECURITY, Action.DECOMMISSION}
    assert {a for a in Action if policy.needs_fresh_signin(a)} == policy.FRESH_SIGNIN_ACTIONS
