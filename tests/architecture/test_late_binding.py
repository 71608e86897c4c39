"""The lower layers reach the lifecycle's rules without importing it (docs/architecture.md, "Late binding")."""

import pytest

from assets.models import Asset
from declarations.guards import GUARDS, Guard
from declarations.states import AssetState
from tests.lifecycle.helpers import located_asset


def test_the_asset_transitions_name_the_declared_guards_and_the_lifecycle_app_bound_each():
    named = set()
    for method in ("reserve", "release", "deliver", "start_use", "return_to_service", "decommission"):
        for fsm_transition in getattr(Asset, method)._django_fsm.transitions.values():
            named |= {c for c in fsm_transition.conditions if isinstance(c, Guard)}
    assert named == set(GUARDS.values())  # each transition's guards are the declared objects, nothing else
    assert all(guard._check is not None for guard in GUARDS.values()), "the lifecycle apps bind every guard in ready()"


@pytest.mark.django_db
def test_a_bound_guard_gives_the_lifecycle_reasons():
    asset = located_asset(state=AssetState.AVAILABLE)
    assert GUARDS["is_located"].reasons(asset) == []
    asset.last_seen = None
    assert GUARDS["is_located"].reasons(asset) == ["asset is not located: the RTLS has never seen it"]
    assert not GUARDS["is_located"](asset)


def test_an_unbound_guard_refuses_with_its_reason_instead_of_letting_a_transition_through():
    guard = Guard("needs_a_check", "declared, never bound")
    assert not guard(object())
    assert guard.reasons(object()) == ["needs_a_check cannot be checked: no installed app provides its check"]
