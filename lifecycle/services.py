"""Lifecycle changes: transitions, room-type rules, work orders and recalls.

Every change runs in one transaction that locks the asset row first (select_for_update), so two
people acting on one asset at once are serialised: one wins, the other gets ConcurrentTransition.
Live updates go out with ``transaction.on_commit``: nobody sees a change that was rolled back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from assets.models import Asset
from config.access import fresh_signin_check, refuse
from config.i18n import source_language, source_state
from declarations.guards import IS_SERVICEABLE
from declarations.policy import TRANSITION_ACTIONS
from declarations.states import AssetState, state_definition
from declarations.transitions import REASON_REQUIRED, TransitionName, method_name
from lifecycle.exceptions import (
    AssetHeldByRequest,
    ConcurrentTransition,
    GuardFailed,
    LifecycleError,
    ReasonRequired,
    RecallError,
    StepUpRequired,
    TransitionInputInvalid,
    TransitionNotAllowed,
    TransitionPermissionDenied,
    UnknownTransition,
    WorkOrderError,
)
from lifecycle.fsm import (
    set_known_state,
    transition_guard_failures,
    transition_guard_reasons,
    transition_option,
    transition_sources,
)
from lifecycle.history import record_changes, snapshot
from lifecycle.models import (
    OPEN_WORK_ORDER_STATUSES,
    Recall,
    RoomTypeRule,
    Source,
    TransitionLog,
    WorkOrder,
    WorkOrderKind,
    WorkOrderStatus,
    room_rule_problems,
)
from lifecycle.requests.selectors import holder_description, open_request_holding
from lifecycle.selectors import asset_availability_blockers, recall_matching_assets, room_type_rule_for
from lifecycle.signals import transition_applied, work_order_done
from lifecycle.work_orders import work_order_run_transition, work_order_transition_name
from locations.live import notify_floor
from locations.models import Room

logger = logging.getLogger(__name__)


def _label(state: str) -> str:
    return state_definition(state).label.lower()


def fresh_signin_message(what: str) -> str:
    """Why a sign-off or a decommission was refused to a credential that is not fresh (StepUpRequired)."""
    return _(
        "%(what)s needs a fresh sign-in: through the API, get a step-up token with POST /api/v1/auth/step-up/ "
        "(username, password, otp_code) and send it as Authorization: Token <key>; in the admin, enter your "
        "password again"
    ) % {"what": what}


def _last_change_by(asset: Asset) -> str:
    last = TransitionLog.objects.filter(asset=asset).select_related("user").order_by("-at", "-id").first()
    if last is None:
        return ""
    who = last.user.get_username() if last.user else "the system"
    return f" ({last.transition} by {who} at {last.at:%H:%M:%S})"


# An assigned equipment request holds its reserved asset: these end the reservation, so they go through the
# request (its deliver and cancel), which keeps the request and the asset in step.
REQUEST_WORKFLOW_TRANSITIONS = frozenset({TransitionName.RELEASE, TransitionName.DELIVER})


@transaction.atomic
def asset_transition(
    *,
    asset: Asset,
    transition: str,
    user,
    note: str = "",
    source: str = Source.USER,
    to_state: str | None = None,
    at: datetime | None = None,
    equipment_request_id: int | None = None,
) -> TransitionLog:
    """Run one lifecycle transition on ``asset`` and log it; returns the log row.

    ``asset`` is the copy the caller looked at: if its state is no longer the one in the database,
    someone else changed it meanwhile and this raises ConcurrentTransition. On success the caller's
    copy carries the new state. ``to_state`` picks the target of return_to_service (available or
    soiled) and apply_room_rule. ``user=None`` is the system (room-type rules). ``equipment_request_id``: the
    equipment request this transition is part of (lifecycle.requests.services); release and deliver of an
    asset an open request holds are refused otherwise (AssetHeldByRequest, 409 naming the request).

    Raises UnknownTransition / ReasonRequired / TransitionInputInvalid (400), TransitionPermissionDenied (403;
    StepUpRequired when the role may but the request's credential is not fresh enough: decommission,
    config.access.fresh_signin_check),
    TransitionNotAllowed, GuardFailed and ConcurrentTransition (409).
    """
    if transition not in TransitionName.values:
        raise UnknownTransition(
            _("unknown transition %(name)r; valid: %(valid)s")
            % {"name": transition, "valid": ", ".join(TransitionName.values)}
        )
    name = TransitionName(transition)
    note = (note or "").strip()

    locked = Asset.objects.select_for_update().get(pk=asset.pk)
    expected, current = str(asset.state), str(locked.state)
    if expected != current:
        raise ConcurrentTransition(
            _(
                "%(asset)s was changed from %(old)s to %(new)s%(by)s since you loaded it; "
                "nothing was done, reload and try again"
            )
            % {"asset": locked, "old": _label(expected), "new": _label(current), "by": _last_change_by(locked)}
        )

    option = transition_option(user=user, asset=locked, name=name, guards=False)  # guards: below, in order
    if option is None:
        terminal = _(" (terminal)") if state_definition(current).terminal else ""
        raise TransitionNotAllowed(
            _(
                "cannot %(transition)s %(asset)s: it is %(state)s%(terminal)s; "
                "%(name)s is possible only from %(sources)s"
            )
            % {
                "transition": name.label.lower(),
                "asset": locked,
                "state": _label(current),
                "terminal": terminal,
                "name": name.value,
                "sources": ", ".join(_label(s) for s in transition_sources(name)),
            }
        )
    if not option.permitted:
        actor = _("the system") if user is None else _("user %(name)s") % {"name": user.get_username() or "anonymous"}
        refuse(user, TRANSITION_ACTIONS[name.value], door=str(source), asset_id=locked.pk)
        raise TransitionPermissionDenied(
            _("%(actor)s may not %(transition)s: allowed for %(who)s")
            % {"actor": actor, "transition": name.label.lower(), "who": option.who}
        )
    if not fresh_signin_check(user, TRANSITION_ACTIONS[name.value], door=str(source), asset_id=locked.pk):
        raise StepUpRequired(fresh_signin_message(name.label.lower()))
    if name in REQUEST_WORKFLOW_TRANSITIONS:
        holder = open_request_holding(asset_id=locked.pk)
        if holder is not None and holder.pk != equipment_request_id:
            raise AssetHeldByRequest(
                _(
                    "cannot %(transition)s %(asset)s: it is reserved for %(holder)s; deliver or cancel that request "
                    "instead (POST /api/v1/equipment-requests/%(id)s/deliver/ or cancel/)"
                )
                % {
                    "transition": name.label.lower(),
                    "asset": locked,
                    "holder": holder_description(holder),
                    "id": holder.pk,
                }
            )
    if name in REASON_REQUIRED and not note:
        raise ReasonRequired(
            _("%(transition)s needs a reason: say what is wrong with %(asset)s")
            % {"transition": name.label.lower(), "asset": locked}
        )

    kwargs = {}
    targets = option.targets
    if to_state is not None:
        if len(targets) == 1 or name == TransitionName.FINISH_CLEANING:
            raise TransitionInputInvalid(
                _("%(name)s does not take a target state (to_state): only return_to_service does")
                % {"name": name.value}
            )
        if str(to_state) not in targets:  # the state machine does not go there: refused like any such move (409)
            raise TransitionNotAllowed(
                _("%(name)s can move %(asset)s to %(targets)s, not %(to_state)s")
                % {"name": name.value, "asset": locked, "targets": " or ".join(targets), "to_state": repr(to_state)}
            )
        kwargs["to_state"] = AssetState(str(to_state))
    elif name == TransitionName.APPLY_ROOM_RULE:
        raise TransitionInputInvalid("apply_room_rule needs the rule's to_state")

    failures = transition_guard_failures(asset=locked, name=name)
    if failures:
        reasons = [reason for _code, reason in failures]
        raise GuardFailed(
            _("cannot %(transition)s %(asset)s: %(reasons)s")
            % {"transition": name.label.lower(), "asset": locked, "reasons": "; ".join(reasons)},
            reasons,
            [code for code, _reason in failures],
        )

    getattr(locked, method_name(name))(**kwargs)
    new_state = str(locked.state)

    # "Available" has one meaning (docs/design.md §2): no path may reach it with PM overdue or a recall open.
    blockers = asset_availability_blockers(asset=locked)
    if new_state == AssetState.AVAILABLE and blockers:
        raise GuardFailed(
            _("cannot make %(asset)s available: %(reasons)s") % {"asset": locked, "reasons": "; ".join(blockers)},
            blockers,
            [IS_SERVICEABLE.name],  # the availability rule is the is_serviceable guard's check
        )
    if name == TransitionName.FINISH_CLEANING and new_state == AssetState.BIOMED:
        with source_language():  # a stored note: the reasons in the source language, not the reader's
            source_blockers = asset_availability_blockers(asset=locked)
        why = f"sent to biomed instead of available: {'; '.join(source_blockers)}"
        note = f"{why}. {note}" if note else why

    locked.save(update_fields=["state", "updated_at"])
    entry = TransitionLog.objects.create(
        asset=locked,
        transition=name,
        from_state=current,
        to_state=new_state,
        user=user,
        at=at or timezone.now(),
        room_id=locked.current_room_id,
        note=note,
        source=source,
    )
    # The apps above the core act in this transaction: e.g. retiring an asset always produces its certificate,
    # whoever the caller (lifecycle.decommissioning connects in its AppConfig.ready()).
    transition_applied.send(sender=Asset, asset=locked, transition=name, user=user)
    set_known_state(asset, locked.state)  # the caller's copy now shows the new state

    floor_id = locked.current_room.floor_id if locked.current_room_id else None
    definition = source_state(new_state)  # one event for every page: each shows its own language's label
    event = {
        "kind": "asset.state",
        "asset_id": locked.pk,
        "asset_tag": locked.asset_tag,
        "transition": name.value,
        "from_state": current,
        "state": new_state,
        "label": definition.label,
        "colour": definition.colour,
        "icon": definition.icon,
        "room_id": locked.current_room_id,
        "source": str(source),
        "at": entry.at.isoformat(),
        "log_id": entry.pk,
    }
    transaction.on_commit(lambda: notify_floor(floor_id, event))
    return entry


# Named transitions: what the admin, the API and the map call. ------------------------------------


def asset_reserve(*, asset: Asset, user, note: str = "", source: str = Source.USER) -> TransitionLog:
    return asset_transition(asset=asset, transition=TransitionName.RESERVE, user=user, note=note, source=source)


def asset_release(
    *, asset: Asset, user, note: str = "", source: str = Source.USER, equipment_request_id: int | None = None
) -> TransitionLog:
    return asset_transition(
        asset=asset,
        transition=TransitionName.RELEASE,
        user=user,
        note=note,
        source=source,
        equipment_request_id=equipment_request_id,
    )


def asset_deliver(
    *, asset: Asset, user, note: str = "", source: str = Source.USER, equipment_request_id: int | None = None
) -> TransitionLog:
    return asset_transition(
        asset=asset,
        transition=TransitionName.DELIVER,
        user=user,
        note=note,
        source=source,
        equipment_request_id=equipment_request_id,
    )


def asset_start_use(*, asset: Asset, user, note: str = "", source: str = Source.USER) -> TransitionLog:
    return asset_transition(asset=asset, transition=TransitionName.START_USE, user=user, note=note, source=source)


def asset_return(*, asset: Asset, user, note: str = "", source: str = Source.USER) -> TransitionLog:
    return asset_transition(asset=asset, transition=TransitionName.RETURN, user=user, note=note, source=source)


def asset_start_cleaning(*, asset: Asset, user, note: str = "", source: str = Source.USER) -> TransitionLog:
    return asset_transition(asset=asset, transition=TransitionName.START_CLEANING, user=user, note=note, source=source)


def asset_finish_cleaning(*, asset: Asset, user, note: str = "", source: str = Source.USER) -> TransitionLog:
    return asset_transition(asset=asset, transition=TransitionName.FINISH_CLEANING, user=user, note=note, source=source)


def asset_send_to_biomed(*, asset: Asset, user, reason: str, source: str = Source.USER) -> TransitionLog:
    return asset_transition(
        asset=asset, transition=TransitionName.SEND_TO_BIOMED, user=user, note=reason, source=source
    )


def asset_return_to_service(
    *, asset: Asset, user, needs_cleaning: bool = False, note: str = "", source: str = Source.USER
) -> TransitionLog:
    return asset_transition(
        asset=asset,
        transition=TransitionName.RETURN_TO_SERVICE,
        user=user,
        note=note,
        source=source,
        to_state=AssetState.SOILED if needs_cleaning else AssetState.AVAILABLE,
    )


# Location drives status (RoomTypeRule) ----------------------------------------------------------


def _changes_a_rule_may_apply_to(changes) -> list:
    """The pipeline reports thousands of moves a minute; most enter rooms no rule covers, or assets in a
    state no rule starts from. Two queries narrow the batch before any row is locked."""
    rules = list(RoomTypeRule.objects.filter(active=True).values_list("room_type", "from_states"))
    changes = list(changes)
    if not rules or not changes:
        return []
    rule_rooms = set(
        Room.objects.filter(pk__in={c.to_room_id for c in changes}, room_type__in={t for t, _ in rules}).values_list(
            "pk", flat=True
        )
    )
    changes = [c for c in changes if c.to_room_id in rule_rooms]
    if not changes:
        return []
    from_states = {state for _, states in rules if isinstance(states, list) for state in states}
    in_rule_states = set(
        Asset.objects.filter(pk__in={c.asset_id for c in changes}, state__in=from_states).values_list("pk", flat=True)
    )
    return [c for c in changes if c.asset_id in in_rule_states]


@transaction.atomic
def asset_apply_room_rules(*, asset_id: int, room_id: int, at: datetime | None = None) -> TransitionLog | None:
    """Apply the active rule for the room the asset entered, if one matches its state; logged as the system."""
    asset = Asset.objects.select_for_update().get(pk=asset_id)
    room = Room.objects.get(pk=room_id)
    rule = room_type_rule_for(room_type=room.room_type, state=asset.state)
    if rule is None:
        return None
    # The rule table is checked when edited and by the database; checked again here so no row, however
    # it got there, can give availability back or take equipment from biomed or a reservation.
    problems = room_rule_problems(from_states=[str(asset.state)], to_state=rule.to_state)
    if problems:
        raise TransitionNotAllowed(f"room-type rule #{rule.pk} not applied to {asset}: {'; '.join(problems.values())}")
    reasons = _rule_target_guard_reasons(asset, rule.to_state)
    if reasons:
        raise GuardFailed(f"room-type rule #{rule.pk} not applied to {asset}: {'; '.join(reasons)}", reasons)
    from_state = str(asset.state)
    entry = asset_transition(
        asset=asset,
        transition=TransitionName.APPLY_ROOM_RULE,
        user=None,
        note=f"room-type rule #{rule.pk}: {rule.describe()} (entered {room.code} {room.name})",
        source=Source.RULE,
        to_state=rule.to_state,
        at=at,
    )
    record_changes(
        instance=asset,
        user=None,
        before={"state": from_state, "room_type_rule": None},
        after={"state": entry.to_state, "room_type_rule": f"#{rule.pk} ({rule.describe()}), entered {room.code}"},
    )
    return entry


# The transition that normally leads to each state a rule may set: a rule runs that transition's guards too.
RULE_TARGET_TRANSITIONS = {
    AssetState.SOILED: TransitionName.RETURN,
    AssetState.CLEANING: TransitionName.START_CLEANING,
    AssetState.BIOMED: TransitionName.SEND_TO_BIOMED,
}


def _rule_target_guard_reasons(asset: Asset, to_state: str) -> list[str]:
    name = RULE_TARGET_TRANSITIONS.get(AssetState(to_state))
    if name is None:
        return [f"no rule may move equipment to {to_state}"]
    return transition_guard_reasons(asset=asset, name=name, from_any_state=True)


def apply_room_changes(*, changes) -> list[TransitionLog]:
    """Run the room-type rules for a committed batch of room changes (locations.signals.RoomChange).

    Each change is its own transaction: one asset's refusal (say, a guard) never blocks the others.
    """
    changes = _changes_a_rule_may_apply_to(changes)
    applied = []
    for change in changes:
        try:
            entry = asset_apply_room_rules(asset_id=change.asset_id, room_id=change.to_room_id, at=change.at)
        except LifecycleError as exc:
            logger.warning(
                "room-type rule not applied to asset %s entering room %s: %s", change.asset_id, change.to_room_id, exc
            )
            continue
        except (Asset.DoesNotExist, Room.DoesNotExist):
            logger.warning("room change for unknown asset %s or room %s ignored", change.asset_id, change.to_room_id)
            continue
        if entry is not None:
            applied.append(entry)
    return applied


# Work orders ------------------------------------------------------------------------------------

WORK_ORDER_EDITABLE_FIELDS = {"status", "technician", "notes", "completed_on"}


@transaction.atomic
def work_order_open(
    *, asset: Asset, kind: str, user, notes: str = "", technician=None, recall: Recall | None = None
) -> WorkOrder:
    if kind not in WorkOrderKind.values:
        raise WorkOrderError(f"unknown work order kind {kind!r}; valid: {', '.join(WorkOrderKind.values)}")
    if (kind == WorkOrderKind.RECALL) != (recall is not None):
        raise WorkOrderError("a recall work order needs its recall, and only a recall work order has one")
    locked = Asset.objects.select_for_update().get(pk=asset.pk)
    if locked.state == AssetState.DECOMMISSIONED:
        raise WorkOrderError(f"{locked} is decommissioned; it takes no more work orders")
    work_order = WorkOrder.objects.create(
        asset=locked, kind=kind, recall=recall, technician=technician, notes=notes, opened_by=user
    )
    record_changes(instance=work_order, user=user, before={}, after=snapshot(work_order))
    return work_order


@transaction.atomic
def work_order_update(*, work_order: WorkOrder, user, **changes) -> WorkOrder:
    """Change status, technician or notes. Closing sets closed_at; a done PM sets the asset's last PM date
    (``completed_on``, default today; it never moves backwards)."""
    unknown = set(changes) - WORK_ORDER_EDITABLE_FIELDS
    if unknown:
        raise WorkOrderError(f"cannot change {', '.join(sorted(unknown))} of a work order")
    Asset.objects.select_for_update().get(pk=work_order.asset_id)
    locked = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
    before = snapshot(locked)
    completed_on: date | None = changes.pop("completed_on", None)

    new_status = changes.pop("status", locked.status)
    if new_status not in WorkOrderStatus.values:
        raise WorkOrderError(f"unknown work order status {new_status!r}; valid: {', '.join(WorkOrderStatus.values)}")
    name = work_order_transition_name(old=locked.status, new=new_status)
    if new_status != locked.status and new_status not in OPEN_WORK_ORDER_STATUSES and hasattr(locked, "scheduled"):
        raise WorkOrderError(
            f"{locked.reference} is scheduled maintenance: close it with its result (pass or fail), or cancel it "
            "with the reason it was missed (lifecycle.biomed.services)"
        )
    if completed_on is not None and new_status != WorkOrderStatus.DONE:
        raise WorkOrderError("completed_on is only for completing a work order")
    today = timezone.localdate()
    if completed_on is not None and completed_on > today:
        raise WorkOrderError(f"completed_on {completed_on} is in the future")

    for field_name, value in changes.items():
        setattr(locked, field_name, value)
    closing = new_status not in OPEN_WORK_ORDER_STATUSES and before["status"] in OPEN_WORK_ORDER_STATUSES
    if name is not None:
        work_order_run_transition(locked=locked, name=name, user=user, **({"at": timezone.now()} if closing else {}))
    locked.save()
    record_changes(instance=locked, user=user, before=before, after=snapshot(locked))

    if closing and locked.status == WorkOrderStatus.DONE:
        # A maintenance work order opened by hand counts as a pass of the asset's schedules of its kind
        # (lifecycle.biomed connects in its AppConfig.ready()).
        work_order_done.send(
            sender=WorkOrder,
            work_order=locked,
            user=user,
            completed_on=completed_on or timezone.localdate(locked.closed_at),
        )
    return locked


def work_order_complete(*, work_order: WorkOrder, user, completed_on: date | None = None, notes: str = "") -> WorkOrder:
    changes = {"status": WorkOrderStatus.DONE, "completed_on": completed_on}
    if notes:
        changes["notes"] = f"{work_order.notes}\n{notes}".strip()
    return work_order_update(work_order=work_order, user=user, **changes)


# Recalls ----------------------------------------------------------------------------------------


@dataclass
class RecallIssueResult:
    recall: Recall
    created: bool
    opened: list[WorkOrder] = field(default_factory=list)  # work orders opened by this call
    already_open: int = 0  # affected assets that had their work order from an earlier call


def _normalise_serials(serial_numbers) -> list[str] | str:
    if isinstance(serial_numbers, str):
        if serial_numbers.strip().lower() == Recall.ALL_SERIALS:
            return Recall.ALL_SERIALS
        serial_numbers = serial_numbers.replace(",", "\n").splitlines()
    cleaned = sorted({str(s).strip() for s in serial_numbers or [] if str(s).strip()})
    if not cleaned:
        raise RecallError('a recall needs the affected serial numbers, or "all"')
    return cleaned


@transaction.atomic
def recall_issue(
    *,
    reference_number: str,
    manufacturer: str,
    model: str,
    serial_numbers,
    issued_date: date,
    description: str = "",
    user=None,
) -> RecallIssueResult:
    """Record a recall and open one recall work order per affected asset in service.

    Idempotent: issuing the same recall again opens work orders only for assets that have none yet
    (say, assets imported since). The same reference with different details is refused.
    """
    reference_number, manufacturer, model = reference_number.strip(), manufacturer.strip(), model.strip()
    missing = [
        n
        for n, v in (("reference_number", reference_number), ("manufacturer", manufacturer), ("model", model))
        if not v
    ]
    if missing:
        raise RecallError(f"a recall needs {', '.join(missing)}")
    details = {
        "manufacturer": manufacturer,
        "model": model,
        "serial_numbers": _normalise_serials(serial_numbers),
        "issued_date": issued_date,
        "description": description.strip(),
    }
    recall, created = Recall.objects.select_for_update().get_or_create(
        reference_number=reference_number, defaults={**details, "issued_by": user}
    )
    if created:
        record_changes(instance=recall, user=user, before={}, after=snapshot(recall))
    else:
        differing = [name for name, value in details.items() if getattr(recall, name) != value]
        if differing:
            raise RecallError(
                f"recall {reference_number} was already issued with a different {', '.join(differing)}; "
                "use a new reference number or correct the existing recall"
            )
    result = RecallIssueResult(recall=recall, created=created)
    result.opened, result.already_open = _recall_open_work_orders(recall=recall, user=user)
    return result


def _recall_open_work_orders(*, recall: Recall, user) -> tuple[list[WorkOrder], int]:
    # Lock in primary-key order so two concurrent issues of overlapping recalls cannot deadlock.
    affected = recall_matching_assets(recall=recall).exclude(state=AssetState.DECOMMISSIONED).order_by("pk")
    opened, already_open = [], 0
    for asset in affected.select_for_update():
        if WorkOrder.objects.filter(asset=asset, recall=recall).exists():
            already_open += 1
            continue
        work_order = WorkOrder.objects.create(
            asset=asset,
            kind=WorkOrderKind.RECALL,
            recall=recall,
            opened_by=user,
            notes=f"Recall {recall.reference_number}: {recall.description}".strip(),
        )
        record_changes(instance=work_order, user=user, before={}, after=snapshot(work_order))
        opened.append(work_order)
    return opened, already_open
