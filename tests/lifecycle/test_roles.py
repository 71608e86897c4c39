"""Who may run which transition (docs/design.md §3): every transition x every role, allowed and refused."""

import pytest
from django.contrib.auth.models import AnonymousUser

import lifecycle.decommissioning.selectors as decommissioning
import lifecycle.decommissioning.services as decommissioning_services
from declarations.states import AssetState
from lifecycle.exceptions import TransitionPermissionDenied
from lifecycle.fsm import transition_catalogue
from lifecycle.models import TransitionLog
from lifecycle.services import asset_transition
from tests.factories import UserFactory
from tests.lifecycle.helpers import located_asset

# transition -> (a state it runs from, extra arguments)
SETUP = {
    "reserve": (AssetState.AVAILABLE, {}),
    "release": (AssetState.RESERVED, {}),
    "deliver": (AssetState.RESERVED, {}),
    "start_use": (AssetState.AVAILABLE, {}),
    "return": (AssetState.IN_USE, {}),
    "start_cleaning": (AssetState.SOILED, {}),
    "finish_cleaning": (AssetState.CLEANING, {}),
    "send_to_biomed": (AssetState.IN_USE, {"note": "alarm fails self-test"}),
    "return_to_service": (AssetState.BIOMED, {"to_state": AssetState.AVAILABLE}),
    "decommission": (AssetState.BIOMED, {}),
    "apply_room_rule": (AssetState.IN_USE, {"to_state": AssetState.SOILED}),
}

ACTORS = ["nurse", "dispatch", "biomed", "security", "no_role", "superuser", "anonymous", "system"]

# docs/design.md §3 "who"; biomed = Clinical engineering; the system runs rules. Superusers may run everything a
# person may, except decommissioning (Clinical engineering's attested act, issue 13); a user with no role
# may run nothing (least privilege, issue 13 defect 6). The table is declarations/policy.py.
ALLOWED = {
    "reserve": {"dispatch", "superuser"},
    "release": {"dispatch", "superuser"},
    "deliver": {"dispatch", "superuser"},
    "start_use": {"nurse", "dispatch", "superuser"},
    "return": {"nurse", "dispatch", "superuser"},
    "start_cleaning": {"dispatch", "biomed", "superuser"},
    "finish_cleaning": {"dispatch", "biomed", "superuser"},
    "send_to_biomed": {"nurse", "dispatch", "biomed", "security", "superuser"},
    "return_to_service": {"biomed", "superuser"},
    "decommission": {"biomed"},
    "apply_room_rule": {"system"},
}

GROUPS = {"nurse": ["Nurse"], "dispatch": ["Dispatch"], "biomed": ["Clinical engineering"], "security": ["Security"]}


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_actor(actor):
    if actor == "system":
        return None
    if actor == "anonymous":
        return AnonymousUser()
    user = UserFactory(username=f"{actor}-user", roles=GROUPS.get(actor, []))
    if actor == "superuser":
        user.is_superuser = True
        user.save()
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("transition", list(SETUP))
def test_role_matrix(transition, actor, monkeypatch):
    monkeypatch.setattr(decommissioning, "decommission_blockers", lambda asset: [])
    # Permissions are the subject here; the certificate is covered in tests/lifecycle/decommissioning.
    monkeypatch.setattr(decommissioning_services, "certificate_issue", lambda **kwargs: None)
    state, kwargs = SETUP[transition]
    asset = located_asset(state=state)
    user = make_actor(actor)
    allowed = actor in ALLOWED[transition]

    if allowed:
        entry = asset_transition(asset=asset, transition=transition, user=user, **kwargs)
        assert entry.from_state == state and entry.to_state != state
        assert entry.user == user
    else:
        with pytest.raises(TransitionPermissionDenied) as excinfo:
            asset_transition(asset=asset, transition=transition, user=user, **kwargs)
        assert excinfo.value.status_code == 403
        assert "may not" in str(excinfo.value)
        assert not TransitionLog.objects.filter(asset=asset).exists()


def test_matrix_covers_every_transition_of_the_model():
    assert {t.name for t in transition_catalogue()} == set(SETUP) == set(ALLOWED)


@pytest.mark.django_db
def test_refusal_names_who_may(nurse):
    asset = located_asset(state=AssetState.BIOMED)
    with pytest.raises(TransitionPermissionDenied, match="user nurse may not return to service: allowed for Clinical"):
        asset_transition(asset=asset, transition="return_to_service", user=nurse)


@pytest.mark.django_db
def test_a_deactivated_account_may_do_nothing():
    user = UserFactory(roles=["Dispatch"])
    user.is_active = False
    user.save()
    with pytest.raises(TransitionPermissionDenied):
        asset_transition(asset=located_asset(), transition="start_use", user=user)


@pytest.mark.django_db
def test_someone_with_two_roles_gets_both():
    user = UserFactory(roles=["Security", "Nurse"])
    entry = asset_transition(asset=located_asset(), transition="start_use", user=user)
    assert entry.to_state == AssetState.IN_USE
