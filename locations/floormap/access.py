"""Who may use the floor map, and what they may do from it: read from the policy table
(declarations/policy.py), like every other door.

What each may *do* from an asset's popup is read through lifecycle.fsm from the state machine's ``permission=``
declarations on ``Asset``, which read the same table, so the map offers exactly what the services will accept.
"""

from __future__ import annotations

from config.access import may
from declarations.policy import TABLE, Action
from declarations.transitions import TransitionName
from lifecycle.fsm import permitted_transitions_by_state

# The principals the map is for (derived from the table, for the docs and templates).
MAP_ROLES = TABLE[Action.MAP_VIEW]

# The transitions a popup offers: a nurse takes equipment for a patient and returns it afterwards.
MAP_TRANSITIONS = (TransitionName.START_USE, TransitionName.RETURN)


def user_may_use_map(user) -> bool:
    """The map page, its JSON and its live WebSocket."""
    return may(user, Action.MAP_VIEW)


def user_may_request_delivery(user) -> bool:
    """Whether to offer "request delivery": the same rule lifecycle.requests.services enforces."""
    return may(user, Action.REQUEST_CREATE)


def map_actions_by_state(user) -> dict[str, list[str]]:
    """{state: [transition, ...]}: the popup actions this user may run on an asset in each state.

    From lifecycle.fsm (the ``permission=`` of each transition, as the runner checks it), once per user
    rather than once per asset: the role permissions do not depend on the asset. The guards are the
    runner's to check when the action is sent.
    """
    return permitted_transitions_by_state(user, names=MAP_TRANSITIONS)
