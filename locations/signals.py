"""Signals the location pipeline sends after its database transaction commits.

The lifecycle app listens (room-type rules, location alerts) without the location code
importing lifecycle: the dependency points one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.dispatch import Signal


@dataclass(frozen=True, slots=True)
class RoomChange:
    asset_id: int
    from_room_id: int | None
    to_room_id: int
    at: datetime  # event time the asset entered to_room


@dataclass(frozen=True, slots=True)
class TagReport:
    tag_id: str
    asset_id: int | None
    battery_percent: int | None
    at: datetime


# send(sender=..., changes=list[RoomChange]) once per committed batch that moved assets.
room_changes_committed = Signal()
# send(sender=..., reports=list[TagReport]) once per committed batch, one report per tag heard.
tags_reported = Signal()


# Sent inside the transaction that issues or revokes a gateway token (locations.ingest.auth): token, user,
# before, after. The lifecycle's audit trail records it in the change history (lifecycle.audit.connect).
gateway_token_changed = Signal()
