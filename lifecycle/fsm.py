"""The asset state machine as django-fsm declares it, read in one place.

This is the only module that reads django-fsm's internals (a transition method's ``_django_fsm``, a
Transition's ``conditions``, ``permission``, ``has_perm`` and ``target``, the field's
``get_all_transitions``); tests/lifecycle/test_transition_options.py fails if another module does. The
declarations themselves are the ``@transition`` methods of ``assets.models.Asset`` (sources, targets,
guards from lifecycle/guards.py, and ``permission=`` from the policy table, declarations/policy.py).

- ``asset_transition_options(user, asset)``: what this user could ask for on this asset now, each
  transition with whether they may run it, and if not why (the permission, or the guards' reasons). The
  asset page in the admin, the API's asset detail and the floor map all read it.
- ``transition_option`` / ``transition_guard_failures`` / ``transition_guard_reasons`` / ``transition_sources``:
  the same reading, for the runner (lifecycle.services.asset_transition) and the room-type rules.
- ``transition_catalogue()``: every transition as data (docs/states.md, the role tests).

The guard-reason loop (``_failures``) is written once, here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext
from django_fsm import can_proceed

from assets.models import Asset
from declarations.guards import Guard
from declarations.states import AssetState
from declarations.transitions import REASON_REQUIRED, TransitionName, method_name, transition_name

# Run by the system, never offered to a user: a room-type rule moving equipment (lifecycle.services).
SYSTEM_TRANSITIONS = frozenset({TransitionName.APPLY_ROOM_RULE})

# The refusal code when the user's roles do not allow the transition (declarations/policy.py); a guard's
# refusal code is the guard's name (lifecycle/guards.py: is_located, is_serviceable, decommission_ready).
NOT_PERMITTED = "not_permitted"


def _method(name: str):
    return getattr(Asset, method_name(name))


def _from_state(name: str, state: str):
    """django-fsm's Transition for ``name`` from ``state``, or None when it does not start there."""
    return _method(name)._django_fsm.get_transition(state)


def _targets(fsm_transition) -> tuple[str, ...]:
    target = fsm_transition.target
    return tuple(str(s) for s in getattr(target, "allowed_states", None) or (target,))


def _who(fsm_transition) -> str:
    permission = fsm_transition.permission
    return permission.describe() if hasattr(permission, "describe") else str(permission)


def _failures(conditions: Iterable, asset: Asset) -> list[tuple[str, str]]:
    """(code, reason) for every condition that refuses now: THE guard-reason loop.

    A Guard says why in words (and may give several reasons); any other condition is named after itself. The
    code is stable (the guard's name); the reason is in the active language (gettext where it is written).
    Each condition is evaluated once.
    """
    failures: list[tuple[str, str]] = []
    for condition in conditions:
        if isinstance(condition, Guard):
            failures.extend((condition.name, reason) for reason in condition.reasons(asset))
        elif not condition(asset):
            code = getattr(condition, "__name__", "condition")
            failures.append((code, gettext("%(condition)s not met") % {"condition": code}))
    return failures


@dataclass(frozen=True)
class TransitionOption:
    """One transition from the asset's current state, as this user sees it now."""

    name: str
    label: str
    targets: tuple[str, ...]
    needs_note: bool  # a note saying why is required (declarations.transitions.REASON_REQUIRED)
    permitted: bool  # the user's roles allow it (declarations/policy.py)
    who: str  # who may run it, in words
    blocked_by: tuple[str, ...]  # the guards' reasons it may not run now; empty: nothing blocks it
    refused_by: tuple[str, ...]  # codes: NOT_PERMITTED and/or the names of the guards that refuse

    @property
    def can_run(self) -> bool:
        """The user may run it now: permitted, and no guard refuses."""
        return not self.refused_by


def transition_option(*, user, asset: Asset, name: str, guards: bool = True) -> TransitionOption | None:
    """``name`` from the asset's current state for ``user``; None when it does not start from that state.

    Guards are evaluated only for a user who may run the transition, and not at all with ``guards=False``
    (the runner checks them later, in its own order; the map asks per state, not per asset).
    """
    name = TransitionName(name)
    fsm_transition = _from_state(name, asset.state)
    if fsm_transition is None:
        return None
    permitted = bool(fsm_transition.has_perm(asset, user))
    failures = _failures(fsm_transition.conditions, asset) if guards and permitted else []
    codes = ([] if permitted else [NOT_PERMITTED]) + [code for code, _ in failures]
    return TransitionOption(
        name=name.value,
        label=name.label,
        targets=_targets(fsm_transition),
        needs_note=name in REASON_REQUIRED,
        permitted=permitted,
        who=_who(fsm_transition),
        blocked_by=tuple(reason for _, reason in failures),
        refused_by=tuple(dict.fromkeys(codes)),
    )


def asset_transition_options(
    user, asset: Asset, *, guards: bool = True, names: Iterable[str] | None = None
) -> list[TransitionOption]:
    """Every transition a user could ask for from the asset's current state (the system's are left out), in
    the order of declarations.transitions.TransitionName: whether this user may run it now, and if not why
    (``refused_by``: NOT_PERMITTED, or the guards' names; ``blocked_by``: the guards' reasons in words).

    ``names`` narrows it to some transitions (the map's popup offers two).
    """
    wanted = TransitionName.values if names is None else [TransitionName(n).value for n in names]
    options = []
    for name in TransitionName.values:
        if name not in wanted or name in SYSTEM_TRANSITIONS:
            continue
        option = transition_option(user=user, asset=asset, name=name, guards=guards)
        if option is not None:
            options.append(option)
    return options


def permitted_transitions_by_state(user, names: Iterable[str] | None = None) -> dict[str, list[str]]:
    """{state: [transition, ...]}: the transitions this user's roles allow from each state, guards not
    evaluated. The role permissions do not depend on the asset, so a client showing many assets (the
    map) asks once per user, not once per asset; the runner still checks the guards."""
    allowed: dict[str, list[str]] = {}
    for state in AssetState.values:
        probe = Asset(state=state)
        permitted = [o.name for o in asset_transition_options(user, probe, guards=False, names=names) if o.permitted]
        if permitted:
            allowed[state] = permitted
    return allowed


def set_known_state(asset: Asset, state: str) -> None:
    """Set an in-memory copy's state without running a transition (the field is protected): the copy a caller
    holds after the runner moved the row, or the state a user confirmed on a page, so the runner can tell
    whether someone changed it meanwhile. Never saved by itself: Asset.save leaves ``state`` alone."""
    Asset._meta.get_field("state").set_state(asset, state)


def transition_sources(name: str) -> list[str]:
    """The states ``name`` starts from, as declared."""
    return [str(source) for source in _method(name)._django_fsm.transitions]


def transition_guard_failures(*, asset: Asset, name: str, from_any_state: bool = False) -> list[tuple[str, str]]:
    """(code, reason) for each guard of ``name`` that refuses for this asset now; empty when none does.

    From the asset's current state; with ``from_any_state`` the guards of every source state of ``name``
    (each once): a room-type rule that moves equipment to where ``name`` leads runs those guards.
    """
    if from_any_state:
        conditions: dict[int, object] = {}
        for fsm_transition in _method(name)._django_fsm.transitions.values():
            for condition in fsm_transition.conditions:
                conditions.setdefault(id(condition), condition)
        return _failures(conditions.values(), asset)
    fsm_transition = _from_state(name, asset.state)
    return [] if fsm_transition is None else _failures(fsm_transition.conditions, asset)


def transition_guard_reasons(*, asset: Asset, name: str, from_any_state: bool = False) -> list[str]:
    """Why the guards of ``name`` refuse for this asset now, in words; empty when none does."""
    return [reason for _, reason in transition_guard_failures(asset=asset, name=name, from_any_state=from_any_state)]


# The state machine, as data (docs, API, admin) -----------------------------------------------------


@dataclass(frozen=True)
class TransitionInfo:
    name: str
    label: str
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    who: str
    guards: tuple[str, ...]
    description: str


def transition_catalogue() -> list[TransitionInfo]:
    """Every transition of the Asset state machine, read from the model's @transition declarations."""
    field = Asset._meta.get_field("state")
    grouped: dict[str, list] = {}
    for fsm_transition in field.get_all_transitions(Asset):
        grouped.setdefault(fsm_transition.name, []).append(fsm_transition)
    order = {name: i for i, name in enumerate(TransitionName.values)}
    state_order = list(AssetState.values)
    catalogue = []
    for method, transitions in grouped.items():
        name = transition_name(method)
        first = transitions[0]
        catalogue.append(
            TransitionInfo(
                name=name,
                label=TransitionName(name).label,
                sources=tuple(sorted({str(t.source) for t in transitions}, key=state_order.index)),
                targets=_targets(first),
                who=_who(first),
                guards=tuple(str(g.description) for g in first.conditions if isinstance(g, Guard))
                + ((first.custom["guard"],) if first.custom.get("guard") else ()),
                description=" ".join((first.method.__doc__ or "").split()),
            )
        )
    return sorted(catalogue, key=lambda info: order.get(info.name, len(order)))


def status_allows(bound_transition) -> bool:
    """Whether a record's current status lets this django-fsm transition run, conditions included (equipment
    requests and work orders: ``status_allows(locked.assign)``); who may run it is the policy table's business."""
    return can_proceed(bound_transition)
