"""Who may use the floor map, and what they may do from it (DESIGN.md §1, §3).

The map is for the Nurse, Dispatch and Clinical engineering roles (and superusers). What each may
*do* from an asset's popup is not decided here: it is read from the state machine's own
``permission=`` declarations on ``Asset``, so the map offers exactly what the services will accept.
"""

from __future__ import annotations

from assets.models import NURSE_OR_DISPATCH, Asset
from lifecycle.permissions import user_roles
from lifecycle.roles import Role
from lifecycle.transitions import TransitionName, method_name

MAP_ROLES = frozenset({Role.NURSE, Role.DISPATCH, Role.CLINICAL_ENGINEERING})

# The transitions a popup offers: a nurse takes equipment for a patient and returns it afterwards.
MAP_TRANSITIONS = (TransitionName.START_USE, TransitionName.RETURN)


def user_may_use_map(user) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return bool(user_roles(user) & MAP_ROLES)


def user_may_request_delivery(user) -> bool:
    """Whether to offer "request delivery": the same rule lifecycle.requests.services enforces."""
    if user is None or not user.is_authenticated:
        return False
    return NURSE_OR_DISPATCH(None, user)


def map_actions_by_state(user) -> dict[str, list[str]]:
    """{state: [transition, ...]}: the popup actions this user may run on an asset in each state.

    Read from the django-fsm declarations (sources and ``permission=``), once per user rather than
    once per asset: the role permissions do not depend on the asset.
    """
    probe = Asset()
    allowed: dict[str, list[str]] = {}
    for name in MAP_TRANSITIONS:
        method = getattr(Asset, method_name(name))
        for source, fsm_transition in method._django_fsm.transitions.items():
            if fsm_transition.has_perm(probe, user):
                allowed.setdefault(str(source), []).append(name.value)
    return allowed
