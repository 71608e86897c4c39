"""The location engine: plain typed Python and numpy (no Django). See docs/location-engine.md."""

from locations.engine.config import EngineConfig
from locations.engine.engine import EngineStats, GatewayClock, LocationEngine
from locations.engine.parsing import parse_batch, parse_timestamp
from locations.engine.plan import PlanError
from locations.engine.types import (
    BatchError,
    FloorGeom,
    LocationEstimate,
    ParsedBatch,
    ReceiverGeom,
    Rejection,
    RoomGeom,
    Sighting,
    SitePlan,
)

__all__ = [
    "BatchError",
    "EngineConfig",
    "EngineStats",
    "FloorGeom",
    "GatewayClock",
    "LocationEngine",
    "LocationEstimate",
    "ParsedBatch",
    "PlanError",
    "ReceiverGeom",
    "Rejection",
    "RoomGeom",
    "Sighting",
    "SitePlan",
    "parse_batch",
    "parse_timestamp",
]
