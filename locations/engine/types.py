"""The engine's data contract: plain, typed values with no Django in them.

The Django side (locations/pipeline.py) builds a SitePlan from the database, feeds parsed
sightings in, and persists the LocationEstimates that come out. Times are epoch seconds
(float, UTC) of *event* time: the tag's transmission time, never the arrival time.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FloorGeom:
    floor_id: int
    building_id: int
    level: int


@dataclass(frozen=True, slots=True)
class RoomGeom:
    room_id: int
    floor_id: int
    code: str
    room_type: str
    exterior: tuple[tuple[float, float], ...]  # polygon exterior ring, floor metres


@dataclass(frozen=True, slots=True)
class ReceiverGeom:
    gateway_id: str
    floor_id: int
    x: float
    y: float
    rssi_at_1m: float
    path_loss_exponent: float | None = None
    height_m: float | None = None


@dataclass(frozen=True, slots=True)
class SitePlan:
    floors: tuple[FloorGeom, ...]
    rooms: tuple[RoomGeom, ...]
    receivers: tuple[ReceiverGeom, ...]


@dataclass(frozen=True, slots=True)
class Sighting:
    """One receiver hearing one transmission of one tag. tag_id is normalised (12 lowercase hex)."""

    gateway_id: str
    tag_id: str
    rssi: float
    ts: float
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int  # position of the item in the batch's "sightings" list
    reason: str  # says what is wrong, e.g. "rssi -130 is outside -120..0"


@dataclass(slots=True)
class ParsedBatch:
    gateway_id: str
    accepted: list[Sighting] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    duplicates: int = 0  # items repeated within the batch (same gateway, tag and ts), counted once
    sent_at: float | None = None  # the gateway's own send time (epoch seconds), when it gave one


class BatchError(ValueError):
    """The body as a whole is malformed (HTTP 400); the message says what is wrong."""


class BatchTooLarge(BatchError):
    """The batch has more items than allowed (HTTP 413); the message says how many."""


@dataclass(frozen=True, slots=True)
class LocationEstimate:
    """The engine's answer for one tag after one closed window (one transmission)."""

    tag_id: str
    ts: float  # event time of the window
    floor_id: int
    room_id: int  # the smoothed room
    confidence: float  # 0..1, lower when few receivers heard it
    x: float
    y: float
    radius_m: float  # uncertainty radius of (x, y)
    receivers_heard: int
    room_changed: bool  # the smoothed room differs from the previous estimate for this tag
    previous_room_id: int | None
