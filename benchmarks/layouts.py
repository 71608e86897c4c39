"""Synthetic hospital floors for the benchmarks (not the demo data): plain SitePlans, no Django.

- ``double_loaded``: one straight corridor, cut into sections, with rooms on both sides
  (the classic nursing-unit wing); an exit at one end.
- ``racetrack``: a ring corridor around a core of support rooms, patient rooms on the outside;
  ``floors=2`` stacks two of them, so receivers are heard through the slab.

Receivers sit near the middle of their room, on the ceiling. ``receivers="every"`` puts one in every
room and corridor section; ``"every_other"`` in every other one, alternating along each side;
``"every_third"`` in one of every three (the middle one of each run of three).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from locations.engine.types import FloorGeom, ReceiverGeom, RoomGeom, SitePlan


@dataclass
class _Box:
    code: str
    room_type: str
    x0: float
    y0: float
    x1: float
    y1: float
    order: int  # position along its side, for "every other"


def _double_loaded_boxes(prefix: str, rooms_per_side: int = 12) -> list[_Box]:
    width, depth, corridor = 4.2, 5.5, 2.4
    length = rooms_per_side * width
    boxes = [_Box(f"{prefix}-EXIT", "exit", -3.0, depth, 0.0, depth + corridor, 0)]
    types = ["patient"] * rooms_per_side
    north_types = list(types)
    north_types[2], north_types[5], north_types[8], north_types[10] = (
        "storage",
        "clean_utility",
        "soiled_utility",
        "nurse_station",
    )
    for i in range(rooms_per_side):
        x0 = i * width
        boxes.append(_Box(f"{prefix}-S{i + 1:02d}", types[i], x0, 0.0, x0 + width, depth, i))
        boxes.append(
            _Box(
                f"{prefix}-N{i + 1:02d}", north_types[i], x0, depth + corridor, x0 + width, 2 * depth + corridor, i + 1
            )
        )
    sections = rooms_per_side // 2
    section_len = length / sections
    for i in range(sections):
        boxes.append(
            _Box(f"{prefix}-C{i + 1}", "corridor", i * section_len, depth, (i + 1) * section_len, depth + corridor, i)
        )
    return boxes


def _racetrack_boxes(prefix: str) -> list[_Box]:
    boxes: list[_Box] = []
    room_w, depth, corridor = 4.4, 5.0, 2.4
    span = 10 * room_w  # 44 m
    height = 28.0
    for i in range(10):
        x0 = i * room_w
        boxes.append(_Box(f"{prefix}-S{i + 1:02d}", "patient", x0, 0.0, x0 + room_w, depth, i))
        boxes.append(_Box(f"{prefix}-N{i + 1:02d}", "patient", x0, height - depth, x0 + room_w, height, i + 1))
    side_h = (height - 2 * depth) / 3
    for i in range(3):
        y0 = depth + i * side_h
        boxes.append(_Box(f"{prefix}-W{i + 1}", "patient", 0.0, y0, depth, y0 + side_h, i))
        boxes.append(_Box(f"{prefix}-E{i + 1}", "patient", span - depth, y0, span, y0 + side_h, i + 1))
    inner_x0, inner_x1 = depth, span - depth
    inner_y0, inner_y1 = depth, height - depth
    # Ring corridor: south and north runs (full width, 4 sections each), west and east runs (2 each).
    run = (inner_x1 - inner_x0) / 4
    for i in range(4):
        x0 = inner_x0 + i * run
        boxes.append(_Box(f"{prefix}-CS{i + 1}", "corridor", x0, inner_y0, x0 + run, inner_y0 + corridor, i))
        boxes.append(_Box(f"{prefix}-CN{i + 1}", "corridor", x0, inner_y1 - corridor, x0 + run, inner_y1, i + 1))
    mid = (inner_y0 + inner_y1) / 2
    for i, (y0, y1) in enumerate([(inner_y0 + corridor, mid), (mid, inner_y1 - corridor)]):
        boxes.append(_Box(f"{prefix}-CW{i + 1}", "corridor", inner_x0, y0, inner_x0 + corridor, y1, i))
        boxes.append(_Box(f"{prefix}-CE{i + 1}", "corridor", inner_x1 - corridor, y0, inner_x1, y1, i + 1))
    core_types = [
        "nurse_station",
        "clean_utility",
        "soiled_utility",
        "storage",
        "biomed",
        "procedure",
        "storage",
        "other",
    ]
    cx0, cx1 = inner_x0 + corridor, inner_x1 - corridor
    cy0, cy1 = inner_y0 + corridor, inner_y1 - corridor
    col = (cx1 - cx0) / 4
    for row, (y0, y1) in enumerate([(cy0, (cy0 + cy1) / 2), ((cy0 + cy1) / 2, cy1)]):
        for c in range(4):
            kind = core_types[row * 4 + c]
            boxes.append(
                _Box(f"{prefix}-K{row * 4 + c + 1}", kind, cx0 + c * col, y0, cx0 + (c + 1) * col, y1, c + row)
            )
    return boxes


def build_plan(layout: str, *, receivers: str, seed: int = 0) -> SitePlan:
    """layout: "double_loaded" (one floor) or "racetrack2" (two stacked floors)."""
    if receivers not in {"every", "every_other", "every_third"}:
        raise ValueError("receivers must be 'every', 'every_other' or 'every_third'")
    rng = np.random.default_rng(seed)
    floors, rooms, gateways = [], [], []
    if layout == "double_loaded":
        levels = [(1, 0, _double_loaded_boxes("DL"))]
    elif layout == "racetrack2":
        levels = [(1, 0, _racetrack_boxes("RT0")), (2, 1, _racetrack_boxes("RT1"))]
    else:
        raise ValueError(f"unknown layout {layout!r}")
    room_id = 0
    for floor_id, level, boxes in levels:
        floors.append(FloorGeom(floor_id=floor_id, building_id=1, level=level))
        for box in boxes:
            room_id += 1
            ring = ((box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1), (box.x0, box.y0))
            rooms.append(
                RoomGeom(room_id=room_id, floor_id=floor_id, code=box.code, room_type=box.room_type, exterior=ring)
            )
            if box.room_type == "exit":
                continue
            if receivers == "every_other" and box.order % 2 == 1:
                continue
            if receivers == "every_third" and box.order % 3 != 1:
                continue
            x = (box.x0 + box.x1) / 2 + float(rng.uniform(-0.4, 0.4))
            y = (box.y0 + box.y1) / 2 + float(rng.uniform(-0.4, 0.4))
            gateways.append(
                ReceiverGeom(
                    gateway_id=f"gw-{box.code.lower()}", floor_id=floor_id, x=x, y=y, rssi_at_1m=-59.0, height_m=2.7
                )
            )
    return SitePlan(floors=tuple(floors), rooms=tuple(rooms), receivers=tuple(gateways))
