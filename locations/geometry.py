"""Room polygon checks with shapely, shared by the model, the admin and the floor-plan import.

Coordinates are planar floor metres (docs/design.md §5). Rooms may share walls; they may not
overlap by more than ``tolerance_m2``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shapely import STRtree
from shapely.geometry import Polygon, shape
from shapely.validation import explain_validity


class GeometryError(ValueError):
    """A polygon that cannot be a room; the message says why."""


def polygon_from_geojson(geometry: Mapping | None) -> Polygon:
    """Parse a GeoJSON Polygon geometry into a valid, non-empty shapely polygon."""
    if not isinstance(geometry, Mapping):
        raise GeometryError("geometry is missing")
    if geometry.get("type") != "Polygon":
        raise GeometryError(f"geometry must be a Polygon, got {geometry.get('type')!r}")
    coordinates = geometry.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise GeometryError("polygon has no coordinates")
    try:
        polygon = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed rings
        raise GeometryError(f"polygon coordinates are malformed: {exc}") from None
    if polygon.is_empty:
        raise GeometryError("polygon is empty")
    if not polygon.is_valid:
        raise GeometryError(f"polygon is not valid: {explain_validity(polygon)}")
    if polygon.area <= 0:
        raise GeometryError("polygon has zero area")
    return polygon


@dataclass(frozen=True)
class Overlap:
    first: str
    second: str
    area_m2: float

    def __str__(self) -> str:
        return f"rooms {self.first} and {self.second} overlap by {self.area_m2:.2f} m²"


def find_overlaps(rooms: Iterable[tuple[str, Polygon]], *, tolerance_m2: float) -> list[Overlap]:
    """Every pair of rooms whose polygons overlap by more than the tolerance."""
    codes, polygons = [], []
    for code, polygon in rooms:
        codes.append(code)
        polygons.append(polygon)
    if len(polygons) < 2:
        return []
    tree = STRtree(polygons)
    left, right = tree.query(polygons, predicate="intersects")
    overlaps = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        area = polygons[i].intersection(polygons[j]).area
        if area > tolerance_m2:
            overlaps.append(Overlap(codes[i], codes[j], area))
    return overlaps
