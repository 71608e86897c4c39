"""What a user may do to an asset now: one function (lifecycle.fsm.asset_transition_options), read by the
admin's asset page, the API's asset detail and the floor map, and the only code that reads django-fsm's
internals."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from assets.admin import transition_choices
from declarations.states import AssetState
from declarations.transitions import TransitionName
from floormap.access import MAP_TRANSITIONS, map_actions_by_state
from lifecycle.fsm import (
    NOT_PERMITTED,
    asset_transition_options,
    permitted_transitions_by_state,
    transition_option,
)
from tests.api.conftest import client_for
from tests.factories import AssetFactory, RoomFactory, UserFactory
from tests.lifecycle.helpers import open_recall_on

ROOT = Path(settings.BASE_DIR)
# Reading django-fsm's machinery rather than calling a transition: only lifecycle/fsm.py may.
FSM_INTERNALS = re.compile(
    r"_django_fsm|get_all_transitions|get_available_\w*transitions|has_transition_perm|can_proceed"
    r"|\.conditions\b|allowed_states|\.set_state\(|\.permission\.describe"
)


def test_only_lifecycle_fsm_reads_django_fsm_internals():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.split("/")[0] in {".venv", "tests", "node_modules"} or "/migrations/" in relative:
            continue
        if relative == "lifecycle/fsm.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FSM_INTERNALS.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
    # The pattern is not blind: the one module does match it.
    assert FSM_INTERNALS.search((ROOT / "lifecycle/fsm.py").read_text())


@pytest.fixture
def people(db):
    return {
        "nurse": UserFactory(username="opt-nurse", roles=["Nurse"]),
        "dispatch": UserFactory(username="opt-dispatch", roles=["Dispatch"]),
        "biomed": UserFactory(username="opt-biomed", roles=["Clinical engineering"], is_staff=True),
        "security": UserFactory(username="opt-security", roles=["Security"]),
        "root": UserFactory(username="opt-root", is_staff=True, is_superuser=True),
    }


@pytest.fixture
def assets(db):
    """One located and one stale asset in every state, and a located one under an open recall."""
    room, now = RoomFactory(), timezone.now()
    made = {}
    for state in AssetState.values:
        for freshness, minutes in (("located", 1), ("stale", 60)):
            made[f"{state}-{freshness}"] = AssetFactory(
                asset_tag=f"OPT-{state}-{freshness}",
                state=state,
                current_room=room,
                last_seen=now - timedelta(minutes=minutes),
            )
    recalled = AssetFactory(asset_tag="OPT-RECALLED", serial_number="RC-1", current_room=room, last_seen=now)
    open_recall_on(recalled)
    made["recalled"] = recalled
    return made


def test_each_option_says_whether_the_user_may_run_it_now_and_why_not(people, assets):
    located, stale = assets["available-located"], assets["available-stale"]

    by_name = {o.name: o for o in asset_transition_options(people["dispatch"], located)}
    assert list(by_name) == ["reserve", "start_use", "send_to_biomed"]  # from available, the user's order
    assert all(o.can_run and o.permitted and not o.blocked_by and not o.refused_by for o in by_name.values())

    reserve = transition_option(user=people["dispatch"], asset=stale, name="reserve")
    assert reserve.permitted and not reserve.can_run
    assert reserve.refused_by == ("is_located",)
    assert len(reserve.blocked_by) == 1 and "not located" in reserve.blocked_by[0]

    # Not the nurse's to run: refused by the policy table, and the guards are not even asked.
    nurse_reserve = transition_option(user=people["nurse"], asset=stale, name="reserve")
    assert not nurse_reserve.permitted and nurse_reserve.refused_by == (NOT_PERMITTED,)
    assert nurse_reserve.blocked_by == () and "Dispatch" in nurse_reserve.who

    # A recall blocks what needs a serviceable asset, with the recall in the reason.
    start_use = transition_option(user=people["nurse"], asset=assets["recalled"], name="start_use")
    assert start_use.refused_by == ("is_serviceable",) and "recall" in start_use.blocked_by[0]

    # Not from this state: no option at all; the system's room-type rule is never a user's option.
    assert transition_option(user=people["dispatch"], asset=located, name="deliver") is None
    assert all(o.name != TransitionName.APPLY_ROOM_RULE for o in asset_transition_options(people["root"], located))
    assert [o.name for o in asset_transition_options(people["root"], assets["decommissioned-located"])] == []


def test_the_map_asks_per_state_without_guards_and_gets_the_same_permissions(people, assets):
    for user in people.values():
        expected = {}
        for state in AssetState.values:
            names = [
                o.name
                for o in asset_transition_options(user, assets[f"{state}-stale"], guards=False, names=MAP_TRANSITIONS)
                if o.permitted
            ]
            if names:
                expected[state] = names
        assert permitted_transitions_by_state(user, names=MAP_TRANSITIONS) == expected
        assert map_actions_by_state(user) == expected
    assert map_actions_by_state(people["nurse"]) == {"available": ["start_use"], "in_use": ["return"]}


def test_admin_api_and_map_offer_exactly_what_the_one_function_says(client, people, assets):
    api = {name: client_for(user) for name, user in people.items()}
    for asset in assets.values():
        for name, user in people.items():
            options = asset_transition_options(user, asset)
            permitted = [o for o in options if o.permitted]

            # The API: the permitted ones, each with the guards' reasons.
            response = api[name].get(f"/api/v1/assets/{asset.pk}/")
            assert response.status_code == 200, response.content
            served = [(t["name"], tuple(t["blocked_by"])) for t in response.json()["transitions"]]
            assert served == [(o.name, o.blocked_by) for o in permitted], (asset.asset_tag, name)

            # The admin's asset page: buttons for what can run, explanations for what a guard blocks.
            runnable, blocked = transition_choices(asset, user)
            assert [t["name"] for t in runnable] == [o.name for o in permitted if o.can_run]
            assert [(t["name"], tuple(t["reasons"])) for t in blocked] == [
                (o.name, o.blocked_by) for o in permitted if not o.can_run
            ]

            # The map: the popup's actions for this state, guards left to the runner.
            offered = map_actions_by_state(user).get(str(asset.state), [])
            assert offered == [o.name for o in permitted if o.name in MAP_TRANSITIONS]

    # And the asset page itself shows those buttons and reasons.
    client.force_login(people["biomed"])
    stale = assets["biomed-stale"]
    page = client.get(reverse("admin:assets_asset_change", args=[stale.pk]))
    runnable, blocked = transition_choices(stale, people["biomed"])
    assert [t["name"] for t in page.context["transitions"]] == [t["name"] for t in runnable]
    assert [t["name"] for t in page.context["blocked_transitions"]] == [t["name"] for t in blocked]
