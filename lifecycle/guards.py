"""What the state machine's guards check: the lifecycle's rules behind each named guard.

The guards themselves (name, meaning) are declared in ``declarations/guards.py`` and named by
``assets.models.Asset``'s transitions; ``bind_guards`` gives each its check here, from
``LifecycleConfig.ready()``. The checks read lifecycle data (schedules, recalls) and the location freshness,
which the asset model must not import. (``decommission_ready`` is bound by the decommissioning app.)
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from declarations.guards import IS_LOCATED, IS_SERVICEABLE
from declarations.location_status import LocationStatus
from lifecycle import selectors
from locations import freshness

# The checks look their rules up in the modules when they run (module.function), so a test that replaces
# one of those functions replaces it for the guard too.


def not_located(asset) -> list[str]:
    room = asset.current_room
    status = freshness.location_status(last_seen=asset.last_seen, room_type=room.room_type if room else None)
    if status == LocationStatus.LOCATED:
        return []
    if asset.last_seen is None:
        return [_("asset is not located: the RTLS has never seen it")]
    values = {"status": LocationStatus(status).label.lower(), "at": f"{asset.last_seen:%Y-%m-%d %H:%M %Z}"}
    if room:
        return [_("asset is not located: %(status)s, last seen in %(room)s at %(at)s") % {**values, "room": room.code}]
    return [_("asset is not located: %(status)s, last seen at %(at)s") % values]


def not_serviceable(asset) -> list[str]:
    return selectors.asset_availability_blockers(asset=asset)


def bind_guards() -> None:
    """Bind the lifecycle core's guards to their checks (LifecycleConfig.ready). ``decommission_ready`` is the
    decommissioning app's: it binds it in DecommissioningConfig.ready()."""
    IS_LOCATED.bind(not_located)
    IS_SERVICEABLE.bind(not_serviceable)
