"""Who may do what, read from the one table (declarations/policy.py) for a user or a gateway.

Imports no models (users and gateway principals are duck-typed), so every app and interface may use it.

``principal_roles`` turns whoever is asking into the table's principals; ``may`` asks the table;
``refuse`` records a refusal on the security event stream (config/security_events.py). ``fresh_signin_check``
adds the table's second rule for sign-offs and decommissioning (``FRESH_SIGNIN_ACTIONS``): the request being
served must prove a fresh sign-in or carry a step-up token. ``PolicyPermission``
is the django-fsm ``permission=`` callable of each transition on ``Asset``; ``StatusTransitionPermission``
that of the equipment requests' and work orders' transitions. ``user=None`` is the system
itself (room-type rules).
"""

from __future__ import annotations

from config.security_events import current_request, security_event
from declarations.policy import (
    ROLE_GROUP_NAMES,
    SUPERUSER,
    SYSTEM,
    Action,
    Role,
    StatusTransition,
    allowed,
    gateway_principal,
    needs_fresh_signin,
    who,
)

_ROLE_BY_GROUP = {name: role.value for role, name in ROLE_GROUP_NAMES.items()}


def user_roles(user) -> set[Role]:
    """The staff roles (groups) of an active, signed-in user."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return set()
    groups = getattr(user, "groups", None)
    if groups is None:  # a gateway principal
        return set()
    names = set(groups.values_list("name", flat=True))
    return {Role(_ROLE_BY_GROUP[name]) for name in names if name in _ROLE_BY_GROUP}


def principal_roles(user) -> frozenset[str]:
    """The table's principals for ``user``: None is the system; a gateway is its token's scope."""
    if user is None:
        return frozenset({SYSTEM})
    credential = getattr(user, "credential", None)
    if credential is not None and hasattr(credential, "gateway_id"):  # locations.ingest.auth.GatewayPrincipal
        return frozenset({gateway_principal(gateway_id=credential.gateway_id)})
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return frozenset()
    roles = {role.value for role in user_roles(user)}
    if getattr(user, "is_superuser", False):
        roles.add(SUPERUSER)
    return frozenset(roles)


def may(user, action: Action | str) -> bool:
    return allowed(principal_roles(user), action)


def describe(action: Action | str) -> str:
    return who(action)


def who_is(user) -> str:
    if user is None:
        return "system"
    if getattr(user, "credential", None) is not None:  # a gateway principal
        return str(user)
    if not getattr(user, "is_authenticated", False):
        return "anonymous"
    username = getattr(user, "get_username", None)
    return username() if username else str(user)


def refuse(user, action: Action | str, *, door: str, **fields) -> None:
    """Record that ``door`` refused ``action`` to ``user`` (nothing else: the caller answers 401/403)."""
    security_event(
        "policy.refused",
        action=str(Action(action)),
        door=door,
        principal=who_is(user),
        user_id=getattr(user, "pk", None),
        roles=sorted(principal_roles(user)),
        **fields,
    )


def check(user, action: Action | str, *, door: str, **fields) -> bool:
    """``may``, and a security event when the answer is no. For the point where a door enforces."""
    if may(user, action):
        return True
    refuse(user, action, door=door, **fields)
    return False


# --------------------------------------------------------------------------- fresh sign-in (step-up)

# How a request proves a fresh sign-in: bound late by AccountsConfig.ready() to
# accounts.services.request_signin_is_fresh (the sign-in rules live in accounts, above this layer).
_request_signin_is_fresh = None


def bind_fresh_signin_check(check) -> None:
    """``check(request) -> bool``: a step-up token, or a session signed in within FRESH_SIGNIN_MINUTES."""
    global _request_signin_is_fresh
    _request_signin_is_fresh = check


def fresh_signin_check(user, action: Action | str, *, door: str, **fields) -> bool:
    """Whether ``action`` may go ahead as far as the credential goes; a security event when not.

    True when the action needs no fresh sign-in (declarations.policy.FRESH_SIGNIN_ACTIONS) or the request
    being served proves one. Every HTTP request goes through SecurityEventMiddleware, so every door (API,
    admin, map, any future route) is judged by the credential it came with: a long-lived API token is never
    enough. Outside a request (a management command, the shell) nobody signed in with a credential that
    could be stale: the table alone decides. Unbound (accounts not installed), a request is refused."""
    if not needs_fresh_signin(action):
        return True
    request = current_request()
    if request is None:
        return True
    if _request_signin_is_fresh is not None and _request_signin_is_fresh(request):
        return True
    security_event(
        "policy.step_up_required",
        action=str(Action(action)),
        door=door,
        principal=who_is(user),
        user_id=getattr(user, "pk", None),
        path=getattr(request, "path", ""),
        **fields,
    )
    return False


class PolicyPermission:
    """A django-fsm ``permission=`` callable reading the table for one action."""

    def __init__(self, action: Action):
        self.action = Action(action)

    def __call__(self, instance, user) -> bool:
        return may(user, self.action)

    def describe(self) -> str:
        return who(self.action)


class StatusTransitionPermission:
    """A django-fsm ``permission=`` callable for one of the table's status transitions (equipment requests,
    work orders). ``owner_field`` names the record's owner (``requested_by_id``): on their own record a user
    is judged by the transition's ``own_action``."""

    def __init__(self, declared: StatusTransition, *, owner_field: str | None = None):
        self.declared = declared
        self.owner_field = owner_field

    def action_for(self, instance, user) -> Action:
        own = (
            self.owner_field is not None
            and getattr(user, "pk", None) is not None
            and getattr(instance, self.owner_field) == user.pk
        )
        return self.declared.action_for(own=own)

    def __call__(self, instance, user) -> bool:
        return may(user, self.action_for(instance, user))
