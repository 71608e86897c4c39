"""Guards of the state machine: each says, in words, why a transition may not run now.

django-fsm's ``conditions=`` wants callables returning a bool; a ``Guard`` is one, and also
gives the services the reasons ("PM overdue since 2026-10-02") to put in the refusal.
Models are imported inside the checks: assets.models imports this module.
"""

from __future__ import annotations

from collections.abc import Callable


class Guard:
    def __init__(self, name: str, description: str, check: Callable[[object], list[str]]):
        self.name = self.__name__ = name
        self.description = description
        self._check = check

    def __call__(self, instance) -> bool:
        return not self._check(instance)

    def reasons(self, instance) -> list[str]:
        return list(self._check(instance))

    def __repr__(self):
        return f"Guard({self.name})"


def _not_located(asset) -> list[str]:
    from declarations.location_status import LocationStatus
    from locations.freshness import location_status

    room = asset.current_room
    status = location_status(last_seen=asset.last_seen, room_type=room.room_type if room else None)
    if status == LocationStatus.LOCATED:
        return []
    if asset.last_seen is None:
        return ["asset is not located: the RTLS has never seen it"]
    where = f" in {room.code}" if room else ""
    return [f"asset is not located: {status}, last seen{where} at {asset.last_seen:%Y-%m-%d %H:%M %Z}"]


def _not_serviceable(asset) -> list[str]:
    from lifecycle.selectors import asset_availability_blockers

    return asset_availability_blockers(asset=asset)


def _decommission_not_ready(asset) -> list[str]:
    try:
        from lifecycle.decommissioning.selectors import decommission_blockers
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("lifecycle.decommissioning"):
            return ["decommissioning checklist not found"]
        raise
    return list(decommission_blockers(asset))


IS_LOCATED = Guard("is_located", "asset is located (seen within the freshness window)", _not_located)
IS_SERVICEABLE = Guard("is_serviceable", "PM not overdue and no open recall work order", _not_serviceable)
DECOMMISSION_READY = Guard(
    "decommission_ready", "decommissioning checklist complete and both sign-offs valid", _decommission_not_ready
)
