"""Equipment requests: create, assign (reserve an asset), deliver (the asset goes in use), cancel.

Locking order: the request row, then the asset row (taken by lifecycle.services.asset_transition).
The request's own status changes through its django-fsm transitions (``EquipmentRequest.assign`` ...),
whose sources, targets and roles are the policy table's ``REQUEST_TRANSITIONS``: a service asks the
table who may, asks django-fsm whether the status allows it, and only then touches the asset.
The asset's state only ever changes through the lifecycle transitions (reserve, deliver, release), so
their roles, guards, log and live updates apply here exactly as in the admin and on the map. Two
dispatchers assigning the same request, or the same asset to two requests: one wins, the other gets a
409 (EquipmentRequestConflict, or the lifecycle's ConcurrentTransition / TransitionNotAllowed).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from assets.models import Asset, AssetType
from config.access import check, describe
from declarations.guards import IS_SERVICEABLE
from declarations.policy import REQUEST_TRANSITIONS, Action
from declarations.states import AssetState, state_definition
from lifecycle.exceptions import ConcurrentTransition, GuardFailed, LifecycleError, TransitionNotAllowed
from lifecycle.fsm import status_allows
from lifecycle.models import Source
from lifecycle.nearest import assets_nearest_available
from lifecycle.requests.choices import RequestPriority, RequestStatus
from lifecycle.requests.exceptions import (
    EquipmentRequestConflict,
    EquipmentRequestInvalid,
    EquipmentRequestPermissionDenied,
    NoAssetAvailable,
)
from lifecycle.requests.models import EquipmentRequest
from lifecycle.requests.selectors import holder_description, open_request_holding
from lifecycle.selectors import asset_availability_blockers
from lifecycle.services import asset_deliver, asset_release, asset_reserve
from lifecycle.webhooks.payloads import equipment_request_payload
from lifecycle.webhooks.services import webhook_event_emit
from locations.models import Room

# How many of the nearest candidates an automatic assignment tries before giving up.
ASSIGN_CANDIDATES = 10
# A needed-by time this far in the past is a typo, not a request.
NEEDED_BY_PAST_TOLERANCE = timedelta(minutes=5)


def _who(user) -> str:
    return user.get_username() if user is not None else _("the system")


def _emit(event: str, equipment_request: EquipmentRequest) -> None:
    webhook_event_emit(event=event, data=equipment_request_payload(equipment_request))


def _lock(equipment_request: EquipmentRequest) -> EquipmentRequest:
    return (
        EquipmentRequest.objects.select_for_update()
        .select_related("asset_type", "destination_room")
        .get(pk=equipment_request.pk)
    )


# The words of a refusal ("cannot assign request #3: it is already delivered"); the keys stay the machine values.
_ACTION_WORDS = {
    "assign": pgettext_lazy("request action", "assign"),
    "deliver": pgettext_lazy("request action", "deliver"),
    "cancel": pgettext_lazy("request action", "cancel"),
}
_STATUS_WORDS = {
    RequestStatus.OPEN: pgettext_lazy("request status", "open"),
    RequestStatus.ASSIGNED: pgettext_lazy("request status", "assigned"),
    RequestStatus.DELIVERED: pgettext_lazy("request status", "delivered"),
    RequestStatus.CANCELLED: pgettext_lazy("request status", "cancelled"),
}


def _status_conflict(locked: EquipmentRequest, action: str) -> EquipmentRequestConflict:
    by = {
        RequestStatus.ASSIGNED: (locked.assigned_by, locked.assigned_at, _(" with %(asset)s")),
        RequestStatus.DELIVERED: (locked.delivered_by, locked.delivered_at, " (%(asset)s)"),
        RequestStatus.CANCELLED: (locked.cancelled_by, locked.cancelled_at, ""),
    }.get(locked.status)
    detail = ""
    if by and by[1]:
        detail = _(" by %(who)s at %(at)s") % {"who": _who(by[0]), "at": f"{timezone.localtime(by[1]):%H:%M:%S}"}
        detail += by[2] % {"asset": locked.asset} if by[2] else ""
    return EquipmentRequestConflict(
        _("cannot %(action)s request #%(id)s: it is already %(status)s%(detail)s; reload it")
        % {
            "action": _ACTION_WORDS.get(action, action),
            "id": locked.pk,
            "status": _STATUS_WORDS.get(locked.status, locked.status),
            "detail": detail,
        }
    )


@transaction.atomic
def equipment_request_create(
    *,
    user,
    asset_type: AssetType,
    destination_room: Room,
    priority: str = RequestPriority.ROUTINE,
    needed_by: datetime | None = None,
    note: str = "",
    now: datetime | None = None,
) -> EquipmentRequest:
    """A nurse or dispatcher asks for equipment of ``asset_type`` in ``destination_room``."""
    if not check(user, Action.REQUEST_CREATE, door="requests"):
        raise EquipmentRequestPermissionDenied(
            _("user %(user)s may not request equipment: allowed for %(who)s")
            % {"user": _who(user), "who": describe(Action.REQUEST_CREATE)}
        )
    if priority not in RequestPriority.values:
        raise EquipmentRequestInvalid(
            _("unknown priority %(priority)s; valid: %(valid)s")
            % {"priority": repr(priority), "valid": ", ".join(RequestPriority.values)}
        )
    now = now or timezone.now()
    if needed_by is not None:
        if timezone.is_naive(needed_by):
            raise EquipmentRequestInvalid(_("needed_by must be a date and time with a time zone"))
        if needed_by < now - NEEDED_BY_PAST_TOLERANCE:
            raise EquipmentRequestInvalid(_("needed_by %(at)s is in the past") % {"at": needed_by.isoformat()})
    equipment_request = EquipmentRequest.objects.create(
        asset_type=asset_type,
        destination_room=destination_room,
        priority=priority,
        needed_by=needed_by,
        note=(note or "").strip(),
        requested_by=user,
        created_at=now,
    )
    _emit("equipment_request.created", equipment_request)
    return equipment_request


def _reserve_note(locked: EquipmentRequest) -> str:
    room = locked.destination_room
    return f"equipment request #{locked.pk} ({locked.priority}) for {room.code} {room.name}"


def _held_conflict(locked: EquipmentRequest, asset: Asset, holder: EquipmentRequest) -> EquipmentRequestConflict:
    return EquipmentRequestConflict(
        _(
            "cannot assign %(asset)s to request #%(id)s: it is already reserved for %(holder)s; pick another "
            "asset or assign without one"
        )
        % {"asset": asset, "id": locked.pk, "holder": holder_description(holder)}
    )


def _reserve_given(*, locked: EquipmentRequest, asset: Asset, user, source: str) -> Asset:
    # The asset row is locked before it is read: a dispatcher who lost the race for it waits here, then reads
    # who took it (the winner's request, committed), and is told that rather than only "it is reserved".
    asset = Asset.objects.select_for_update(of=("self",)).select_related("asset_type", "current_room").get(pk=asset.pk)
    holder = open_request_holding(asset_id=asset.pk)
    if holder is not None and holder.pk != locked.pk:
        raise _held_conflict(locked, asset, holder)
    if asset.asset_type_id != locked.asset_type_id:
        raise EquipmentRequestInvalid(
            _("asset %(asset)s is a %(type)s; request #%(id)s is for a %(wanted)s")
            % {"asset": asset, "type": asset.asset_type.name, "id": locked.pk, "wanted": locked.asset_type.name}
        )
    if asset.state == AssetState.AVAILABLE:
        # "Available" has one meaning (docs/design.md §2): an asset with PM overdue or an open recall is not.
        blockers = asset_availability_blockers(asset=asset)
        if blockers:
            raise GuardFailed(
                _("cannot reserve %(asset)s: %(reasons)s") % {"asset": asset, "reasons": "; ".join(blockers)},
                blockers,
                [IS_SERVICEABLE.name],
            )
    asset_reserve(asset=asset, user=user, note=_reserve_note(locked), source=source)
    return asset


def _reserve_nearest(*, locked: EquipmentRequest, user, source: str, now: datetime | None) -> Asset:
    candidates = assets_nearest_available(
        asset_type=locked.asset_type, room=locked.destination_room, limit=ASSIGN_CANDIDATES, now=now
    )
    tried = []
    for candidate in candidates:
        if candidate.stale:
            # Only located equipment can be promised (the reserve guard); say so rather than try.
            tried.append(
                _("%(asset)s: stale, last seen in %(room)s") % {"asset": candidate.asset, "room": candidate.room.code}
            )
            continue
        asset = candidate.asset
        try:
            asset_reserve(asset=asset, user=user, note=_reserve_note(locked), source=source)
        except (ConcurrentTransition, TransitionNotAllowed, GuardFailed) as exc:
            # Another dispatcher took it a moment ago, or it stopped qualifying: try the next one.
            tried.append(f"{asset}: {exc.message}")
            continue
        return asset
    room = locked.destination_room
    if not candidates:
        tried.append(_("no available %(type)s is located or stale on this site") % {"type": locked.asset_type.name})
    raise NoAssetAvailable(
        _("no %(type)s could be reserved for request #%(id)s (%(room)s)")
        % {"type": locked.asset_type.name, "id": locked.pk, "room": room.code},
        tried,
    )


@transaction.atomic
def equipment_request_assign(
    *,
    equipment_request: EquipmentRequest,
    user,
    asset: Asset | None = None,
    source: str = Source.USER,
    now: datetime | None = None,
) -> EquipmentRequest:
    """Reserve ``asset`` for the request, or, without one, the nearest available located asset of its type."""
    action = REQUEST_TRANSITIONS["assign"].action
    if not check(user, action, door="requests", request_id=equipment_request.pk):
        raise EquipmentRequestPermissionDenied(
            _("user %(user)s may not assign equipment: allowed for %(who)s")
            % {"user": _who(user), "who": describe(action)}
        )
    locked = _lock(equipment_request)
    if not status_allows(locked.assign):
        raise _status_conflict(locked, "assign")
    if asset is not None:
        chosen = _reserve_given(locked=locked, asset=asset, user=user, source=source)
    else:
        chosen = _reserve_nearest(locked=locked, user=user, source=source, now=now)
    locked.assign(asset=chosen, user=user, at=timezone.now())
    try:
        with transaction.atomic():
            locked.save()
    except IntegrityError:  # one_open_request_per_asset: the checks above and the row locks should prevent it
        holder = open_request_holding(asset_id=chosen.pk)
        if holder is None:
            raise
        raise _held_conflict(locked, chosen, holder) from None
    _emit("equipment_request.assigned", locked)
    return locked


@transaction.atomic
def equipment_request_deliver(
    *, equipment_request: EquipmentRequest, user, note: str = "", source: str = Source.USER
) -> EquipmentRequest:
    """The reserved asset arrived at the destination: it goes in use (lifecycle ``deliver``)."""
    action = REQUEST_TRANSITIONS["deliver"].action
    if not check(user, action, door="requests", request_id=equipment_request.pk):
        raise EquipmentRequestPermissionDenied(
            _("user %(user)s may not deliver equipment: allowed for %(who)s")
            % {"user": _who(user), "who": describe(action)}
        )
    locked = _lock(equipment_request)
    if not status_allows(locked.deliver):
        if locked.status == RequestStatus.OPEN:
            raise EquipmentRequestConflict(_("request #%(id)s has no asset yet: assign one first") % {"id": locked.pk})
        raise _status_conflict(locked, "deliver")
    room = locked.destination_room
    asset = Asset.objects.get(pk=locked.asset_id)
    text = f"delivered to {room.code} {room.name} for equipment request #{locked.pk}"
    asset_deliver(
        asset=asset,
        user=user,
        note=f"{text}. {note.strip()}" if note.strip() else text,
        source=source,
        equipment_request_id=locked.pk,
    )
    locked.deliver(user=user, at=timezone.now())
    locked.save()
    _emit("equipment_request.delivered", locked)
    return locked


@transaction.atomic
def equipment_request_cancel(
    *, equipment_request: EquipmentRequest, user, reason: str = "", source: str = Source.USER
) -> EquipmentRequest:
    """Cancel an open or assigned request; an assigned one's reservation is released (lifecycle ``release``).

    Dispatch may cancel any request, the requester their own (declarations/policy.py). Releasing needs
    the Dispatch role (the ``release`` transition), so a requester whose request is already assigned asks
    dispatch. If the asset is no longer reserved (say, it was sent to biomed meanwhile), there is nothing to release.
    """
    locked = _lock(equipment_request)
    declared = REQUEST_TRANSITIONS["cancel"]
    own = user is not None and user.pk is not None and user.pk == locked.requested_by_id
    if not check(user, declared.action_for(own=own), door="requests", request_id=locked.pk):
        raise EquipmentRequestPermissionDenied(
            _("user %(user)s may not cancel request #%(id)s: allowed for its requester (%(own)s) and for %(who)s")
            % {
                "user": _who(user),
                "id": locked.pk,
                "own": describe(declared.action_for(own=True)),
                "who": describe(declared.action),
            }
        )
    if not status_allows(locked.cancel):
        raise _status_conflict(locked, "cancel")
    reason = (reason or "").strip()
    if locked.status == RequestStatus.ASSIGNED:
        asset = Asset.objects.get(pk=locked.asset_id)
        if asset.state == AssetState.RESERVED:
            note = f"equipment request #{locked.pk} cancelled" + (f": {reason}" if reason else "")
            asset_release(asset=asset, user=user, note=note, source=source, equipment_request_id=locked.pk)
        elif not reason:
            reason = f"asset {asset} was already {state_definition(asset.state).label.lower()}"
    locked.cancel(user=user, at=timezone.now(), reason=reason)
    locked.save()
    _emit("equipment_request.cancelled", locked)
    return locked


__all__ = [
    "EquipmentRequestConflict",
    "EquipmentRequestInvalid",
    "EquipmentRequestPermissionDenied",
    "LifecycleError",
    "NoAssetAvailable",
    "equipment_request_assign",
    "equipment_request_cancel",
    "equipment_request_create",
    "equipment_request_deliver",
]
