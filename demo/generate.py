"""Writes the demo hospital's data files: one floor plan per floor and the asset register.

    python demo/generate.py

The output is committed; `python manage.py seed_demo` loads it through the real import commands
(`import_floorplan`, `import_assets`), so the demo exercises the same path as a hospital's own files.
Plain Python with a fixed seed: re-running gives byte-identical files.

The hospital: St Olaf General, two buildings with their own coordinates (planar metres).
Every floor is a double-loaded corridor: a corridor 2.4 m wide along x, split into sections of
about 11 m, with rooms on both sides that share walls and touch nothing else. The floors of a
building are stacked on the same footprint. A ceiling receiver sits near the centre of almost every
room (not the stairwells) and of every corridor section.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

SEED = 20261122
OUT_DIR = Path(__file__).resolve().parent
SITE = "st-olaf"
SITE_NAME = "St Olaf General Hospital"

SOUTH_DEPTH = 6.0  # rooms on the south side: y from 0 to 6.0
CORRIDOR_WIDTH = 2.4  # corridor: y from 6.0 to 8.4
NORTH_DEPTH = 5.5  # rooms on the north side: y from 8.4 to 13.9
CEILING_M = 2.7

# A side of a floor is a sequence of rooms from x = 0 to the building length. ("patient", n, width) is n patient
# rooms of that width; ("patient", n) is n patient rooms sharing what is left of the side equally; anything else
# is (room_type, name, width, unit or None). Stairs and elevators sit at the same x on every floor of a building.
PATIENT = "patient"


@dataclass(frozen=True)
class FloorSpec:
    code: str
    level: int
    unit: str
    patient_name: str
    south: tuple
    north: tuple


@dataclass(frozen=True)
class BuildingSpec:
    name: str
    letter: str
    length: float
    corridor_sections: int
    floors: tuple[FloorSpec, ...]


HOSPITAL = (
    BuildingSpec(
        name="North Tower",
        letter="N",
        length=66.0,
        corridor_sections=6,
        floors=(
            FloorSpec(
                code="1",
                level=0,
                unit="ED",
                patient_name="ED bay",
                south=(
                    ("exit", "Ambulance entrance", 7.0, None),
                    (PATIENT, 5),
                    ("procedure", "Trauma room", 6.0, None),
                    ("soiled_utility", "Soiled utility", 3.5, None),
                    ("nurse_station", "ED nurse station", 6.0, None),
                    ("clean_utility", "Clean utility", 3.5, None),
                    (PATIENT, 5),
                ),
                north=(
                    ("exit", "Main lobby", 10.0, "Facilities"),
                    ("other", "Security office", 4.0, "Security"),
                    ("other", "Elevator lobby", 5.0, "Facilities"),
                    ("other", "Stair N1", 3.5, "Facilities"),
                    ("biomed", "Clinical engineering workshop", 8.0, "Clinical Engineering"),
                    ("storage", "Central equipment store", 8.0, "Central Equipment"),
                    ("procedure", "Triage", 4.5, None),
                    (PATIENT, 3),
                    ("exit", "Loading dock", 9.0, "Facilities"),
                ),
            ),
            FloorSpec(
                code="2",
                level=1,
                unit="ICU",
                patient_name="ICU room",
                south=(
                    (PATIENT, 6),
                    ("nurse_station", "ICU central station", 6.0, None),
                    (PATIENT, 5),
                    ("clean_utility", "Clean utility", 4.0, None),
                ),
                north=(
                    ("storage", "ICU equipment alcove", 4.0, None),
                    ("soiled_utility", "Soiled utility", 3.5, None),
                    ("other", "Family lounge", 6.5, None),
                    ("other", "Elevator lobby", 5.0, "Facilities"),
                    ("other", "Stair N1", 3.5, "Facilities"),
                    ("procedure", "ICU procedure room", 5.0, None),
                    (PATIENT, 8),
                ),
            ),
            FloorSpec(
                code="3",
                level=2,
                unit="3 North",
                patient_name="Patient room",
                south=(
                    (PATIENT, 7),
                    ("nurse_station", "3 North nurse station", 6.0, None),
                    (PATIENT, 7),
                ),
                north=(
                    ("clean_utility", "Clean utility", 4.0, None),
                    (PATIENT, 2, 5.0),
                    ("other", "Elevator lobby", 5.0, "Facilities"),
                    ("other", "Stair N1", 3.5, "Facilities"),
                    ("storage", "Equipment alcove", 3.5, None),
                    (PATIENT, 8),
                    ("soiled_utility", "Soiled utility", 3.5, None),
                ),
            ),
            FloorSpec(
                code="4",
                level=3,
                unit="4 North",
                patient_name="Telemetry room",
                south=(
                    (PATIENT, 7),
                    ("nurse_station", "4 North nurse station", 6.0, None),
                    ("other", "Telemetry monitoring", 4.0, None),
                    (PATIENT, 6),
                ),
                north=(
                    ("soiled_utility", "Soiled utility", 4.0, None),
                    (PATIENT, 2, 5.0),
                    ("other", "Elevator lobby", 5.0, "Facilities"),
                    ("other", "Stair N1", 3.5, "Facilities"),
                    ("procedure", "Treatment room", 4.5, None),
                    (PATIENT, 8),
                    ("clean_utility", "Clean utility", 3.5, None),
                ),
            ),
        ),
    ),
    BuildingSpec(
        name="South Pavilion",
        letter="S",
        length=44.0,
        corridor_sections=4,
        floors=(
            FloorSpec(
                code="1",
                level=0,
                unit="Day Surgery",
                patient_name="Recovery bay",
                south=(
                    ("exit", "South entrance", 8.0, "Facilities"),
                    ("procedure", "Endoscopy suite 1", 6.0, None),
                    ("procedure", "Endoscopy suite 2", 6.0, None),
                    ("soiled_utility", "Scope reprocessing", 4.0, None),
                    (PATIENT, 5),
                ),
                north=(
                    ("nurse_station", "Day Surgery desk", 5.0, None),
                    ("clean_utility", "Clean utility", 3.5, None),
                    (PATIENT, 4),
                    ("storage", "Equipment distribution", 6.0, "Central Equipment"),
                    ("biomed", "Biomed satellite", 4.5, "Clinical Engineering"),
                    ("exit", "Courtyard door", 4.5, "Facilities"),
                    ("other", "Stair S1", 3.5, "Facilities"),
                ),
            ),
            FloorSpec(
                code="2",
                level=1,
                unit="2 South",
                patient_name="Patient room",
                south=(
                    (PATIENT, 5),
                    ("nurse_station", "2 South nurse station", 5.0, None),
                    (PATIENT, 4),
                ),
                north=(
                    ("other", "Rehabilitation gym", 8.0, "Rehabilitation"),
                    ("clean_utility", "Clean utility", 3.5, None),
                    ("soiled_utility", "Soiled utility", 3.5, None),
                    (PATIENT, 5),
                    ("storage", "Equipment alcove", 4.0, None),
                    ("other", "Stair S1", 3.5, "Facilities"),
                ),
            ),
        ),
    ),
)

# Rooms people walk through without lingering get no receiver of their own.
NO_RECEIVER_PREFIX = "Stair"


def rounded(value: float) -> float:
    return round(value, 2)


def rectangle(x0: float, y0: float, x1: float, y1: float) -> dict:
    x0, y0, x1, y1 = rounded(x0), rounded(y0), rounded(x1), rounded(y1)
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def side_widths(side: tuple, length: float) -> list[tuple[str, str | None, float, str | None]]:
    """Expands a side into (room_type, name or None for patient rooms, width, unit or None)."""
    fixed = sum(item[2] for item in side if item[0] != PATIENT) + sum(
        item[1] * item[2] for item in side if item[0] == PATIENT and len(item) == 3
    )
    shared_count = sum(item[1] for item in side if item[0] == PATIENT and len(item) == 2)
    shared_width = (length - fixed) / shared_count if shared_count else 0.0
    rooms = []
    for item in side:
        if item[0] == PATIENT:
            width = item[2] if len(item) == 3 else shared_width
            if not 3.5 <= width <= 5.2:
                raise ValueError(f"patient rooms would be {width:.2f} m wide; adjust the floor spec")
            rooms.extend([(PATIENT, None, width, None)] * item[1])
        else:
            rooms.append(item)
    if abs(sum(room[2] for room in rooms) - length) > 1e-6:
        raise ValueError(f"a side's rooms add up to {sum(room[2] for room in rooms):.2f} m, not {length} m")
    return rooms


def receiver(rng: random.Random, gateway_id: str, x: float, y: float, *, corridor: bool) -> dict:
    properties = {"kind": "receiver", "id": gateway_id, "rssi_at_1m": rng.choice([-57, -58, -59, -59, -60, -61, -62])}
    if corridor:
        # Corridors guide the signal, so it fades more slowly than the free-space-plus-walls default.
        properties["path_loss_exponent"] = 1.8
    properties["height_m"] = CEILING_M
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [rounded(x), rounded(y)]},
        "properties": properties,
    }


def room_feature(code: str, name: str, room_type: str, unit: str, polygon: dict) -> dict:
    return {
        "type": "Feature",
        "geometry": polygon,
        "properties": {"kind": "room", "code": code, "name": name, "room_type": room_type, "unit": unit},
    }


def floor_plan(rng: random.Random, building: BuildingSpec, floor: FloorSpec) -> dict:
    """One floor's FeatureCollection."""
    prefix = f"{floor.code}{building.letter}"
    rooms: list[dict] = []
    receivers: list[dict] = []
    number = 0
    corridor_y0 = SOUTH_DEPTH
    corridor_y1 = SOUTH_DEPTH + CORRIDOR_WIDTH
    for y0, y1, side in ((0.0, corridor_y0, floor.south), (corridor_y1, corridor_y1 + NORTH_DEPTH, floor.north)):
        x = 0.0
        widths = side_widths(side, building.length)
        for index, (room_type, name, width, unit) in enumerate(widths):
            number += 1
            code = f"{prefix}-{floor.code}{number:02d}"
            x1 = building.length if index == len(widths) - 1 else x + width
            name = name or f"{floor.patient_name} {floor.code}{number:02d}"
            unit = unit or floor.unit
            rooms.append(room_feature(code, name, room_type, unit, rectangle(x, y0, x1, y1)))
            if not name.startswith(NO_RECEIVER_PREFIX):
                cx = (x + x1) / 2 + rng.uniform(-0.3, 0.3)
                cy = (y0 + y1) / 2 + rng.uniform(-0.3, 0.3)
                receivers.append(receiver(rng, f"gw-{code.lower()}", cx, cy, corridor=False))
            x = x1
    section_length = building.length / building.corridor_sections
    for section in range(building.corridor_sections):
        code = f"{prefix}-C{section + 1}"
        x0 = section * section_length
        x1 = building.length if section == building.corridor_sections - 1 else x0 + section_length
        rooms.append(
            room_feature(
                code, f"Corridor {section + 1}", "corridor", floor.unit, rectangle(x0, corridor_y0, x1, corridor_y1)
            )
        )
        cx = (x0 + x1) / 2 + rng.uniform(-0.5, 0.5)
        receivers.append(receiver(rng, f"gw-{code.lower()}", cx, (corridor_y0 + corridor_y1) / 2, corridor=True))
    collection = {
        "type": "FeatureCollection",
        "properties": {
            "site": SITE,
            "building": building.name,
            "floor": floor.code,
            "level": floor.level,
            "units": "m",
            # Optional display names the import understands; without them the site would be called "st-olaf".
            "site_name": SITE_NAME,
            "floor_name": f"Floor {floor.code} · {floor.unit}",
        },
        "features": rooms + receivers,
    }
    return collection


def dump_collection(collection: dict) -> str:
    """One feature per line: readable, and a change to one room is a one-line diff."""
    head = {key: value for key, value in collection.items() if key != "features"}
    lines = [json.dumps(feature, ensure_ascii=False) for feature in collection["features"]]
    body = json.dumps(head, ensure_ascii=False)[:-1]
    return body + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


# --- The asset register ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    manufacturer: str
    model: str
    serial: str  # a pattern: '#' is a digit, '@' an upper-case letter
    firmware: tuple[str, ...]  # empty: no firmware
    weight: int  # relative share of the type
    only_units: tuple[str, ...] = ()  # e.g. ICU beds stay in the ICU; empty: any unit


@dataclass(frozen=True)
class TypeSpec:
    name: str
    count: int
    data_bearing: bool
    networked: bool
    risk_class: str
    models: tuple[Model, ...]
    # Where the fleet lives: unit -> relative share.
    units: tuple[tuple[str, int], ...]


WARDS = (("ED", 3), ("ICU", 3), ("3 North", 3), ("4 North", 3), ("Day Surgery", 2), ("2 South", 2))

ASSET_TYPES = (
    TypeSpec(
        "Infusion pump",
        240,
        True,
        True,
        "high",
        (
            Model("BD", "Alaris 8015 PC unit", "########", ("12.1.2", "12.3.0", "12.4.1"), 5),
            Model("Baxter", "Spectrum IQ", "SIQ######", ("9.02.01", "9.03.04"), 3),
            Model("B. Braun", "Infusomat Space", "#######", ("688K", "695L"), 1),
        ),
        (
            ("ED", 3),
            ("ICU", 5),
            ("3 North", 3),
            ("4 North", 3),
            ("Day Surgery", 2),
            ("2 South", 2),
            ("Central Equipment", 4),
        ),
    ),
    TypeSpec(
        "Vital signs monitor",
        120,
        True,
        True,
        "medium",
        (
            Model("Philips", "IntelliVue MX450", "DE7######", ("M.00.03", "N.00.06"), 4),
            Model("GE HealthCare", "CARESCAPE V100", "SH7#####@A", ("2.4", "2.6"), 3),
            Model("Welch Allyn", "Connex Spot Monitor", "1000######", ("2.10", "2.31"), 2),
        ),
        (*WARDS, ("Central Equipment", 2)),
    ),
    TypeSpec(
        "Ventilator",
        32,
        True,
        True,
        "high",
        (
            Model("Hamilton Medical", "HAMILTON-C6", "C6-######", ("1.1.4", "1.2.2"), 3),
            Model("Dräger", "Evita V500", "ASRL-####", ("2.51", "2.60"), 2),
            Model("Medtronic", "Puritan Bennett 980", "35B#######", ("2.2.0",), 1),
        ),
        (("ICU", 6), ("ED", 2), ("Central Equipment", 1), ("Clinical Engineering", 1)),
    ),
    TypeSpec(
        "Bladder scanner",
        16,
        True,
        False,
        "low",
        (
            Model("Verathon", "BladderScan Prime", "BSP#######", ("1.4.2", "1.5.0"), 3),
            Model("Verathon", "BladderScan Prime PLUS", "BPP#######", ("1.5.0",), 1),
        ),
        WARDS,
    ),
    TypeSpec(
        "SCD pump",
        64,
        False,
        False,
        "medium",
        (Model("Cardinal Health", "Kendall SCD 700", "########@@", ("3.1",), 1),),
        (*WARDS, ("Central Equipment", 3)),
    ),
    TypeSpec(
        "Telemetry transmitter",
        90,
        True,
        True,
        "medium",
        (Model("Philips", "IntelliVue MX40", "US5#######", ("B.06.02", "B.06.54"), 1),),
        (("4 North", 6), ("3 North", 2), ("ED", 2), ("Central Equipment", 1)),
    ),
    TypeSpec(
        "Hospital bed",
        150,
        False,
        False,
        "medium",
        (
            Model("Stryker", "ProCuity", "2###########", (), 3),
            Model("Stryker", "S3 MedSurg", "1###########", (), 2),
            Model("Hillrom", "Centrella Smart+", "@####@@####", (), 3),
            Model("Hillrom", "Progressa", "@####@@####", (), 6, only_units=("ICU",)),
        ),
        (("ICU", 4), ("3 North", 5), ("4 North", 5), ("2 South", 3), ("ED", 3), ("Day Surgery", 2)),
    ),
    TypeSpec(
        "Wheelchair",
        80,
        False,
        False,
        "low",
        (
            Model("Invacare", "Tracer SX5", "##@#######", (), 2),
            Model("Drive Medical", "Cruiser III", "#####-####", (), 3),
        ),
        (*WARDS, ("Facilities", 5)),
    ),
    TypeSpec(
        "Defibrillator",
        18,
        True,
        True,
        "high",
        (
            Model("ZOLL", "R Series ALS", "AF##@######", ("03.02.010",), 2),
            Model("Philips", "HeartStart MRx", "US########", ("F.02.00",), 1),
        ),
        WARDS,
    ),
    TypeSpec(
        "Feeding pump",
        28,
        True,
        False,
        "medium",
        (Model("Cardinal Health", "Kangaroo ePump", "EP######", ("2.5",), 1),),
        (("ICU", 3), ("3 North", 2), ("4 North", 1), ("2 South", 2)),
    ),
    TypeSpec(
        "Patient lift",
        16,
        False,
        False,
        "medium",
        (
            Model("Hillrom", "Viking M", "V####-####", (), 1),
            Model("Arjo", "Maxi Move", "MM######", (), 1),
        ),
        (("2 South", 3), ("3 North", 2), ("4 North", 2), ("ICU", 1)),
    ),
)

CSV_HEADER = (
    "asset_tag,asset_type,tag_id,manufacturer,model,serial_number,unit,data_bearing,networked,"
    "encryption_status,firmware_version,risk_class,in_service_date,purchase_date,last_pm_date"
).split(",")

# PM dates are relative to this fixed day, so the files stay byte-identical; about 1 asset in 30
# is overdue, as in a real fleet, so the PM-overdue guards and alerts have something to show.
AS_OF = datetime.date(2026, 11, 22)
# SNOMED CT concepts (system http://snomed.info/sct) for each type, written to asset_types.json for
# seed_demo and shown as FHIR Device.type. docs/fhir.md cites each one and says which are coarser than the type.
TYPE_CODES = {
    "Infusion pump": ("44668000", "Pump"),
    "Vital signs monitor": ("5159002", "Physiologic monitoring system"),
    "Ventilator": ("706172005", "Ventilator"),
    "Bladder scanner": ("63653004", "Medical device"),
    "SCD pump": ("469317002", "Intermittent venous compression system pump"),
    "Telemetry transmitter": ("78886001", "Electronic monitor"),
    "Hospital bed": ("91537007", "Hospital bed"),
    "Wheelchair": ("58938008", "Wheelchair"),
    "Defibrillator": ("19257004", "Defibrillator"),
    "Feeding pump": ("44668000", "Pump"),
    "Patient lift": ("63653004", "Medical device"),
}
# Typical manufacturer-recommended PM intervals (days), written to asset_types.json for seed_demo.
PM_INTERVAL_DAYS = {
    "Infusion pump": 365,
    "Vital signs monitor": 365,
    "Ventilator": 182,
    "Bladder scanner": 365,
    "SCD pump": 365,
    "Telemetry transmitter": 365,
    "Hospital bed": 365,
    "Wheelchair": 365,
    "Defibrillator": 182,
    "Feeding pump": 365,
    "Patient lift": 182,
}
OVERDUE_SHARE = 1 / 30

# The register mixes the forms people type tag ids in, so the import's normalisation is exercised.
TAG_ID_FORMS = ("colon_upper", "colon_lower", "plain_lower", "plain_upper")


def serial_from(rng: random.Random, pattern: str) -> str:
    out = []
    for char in pattern:
        if char == "#":
            out.append(rng.choice("0123456789"))
        elif char == "@":
            out.append(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
        else:
            out.append(char)
    return "".join(out)


def tag_id_text(number: int, form: str) -> str:
    plain = f"c3{number:010x}"
    if form == "colon_upper":
        return ":".join(plain[i : i + 2] for i in range(0, 12, 2)).upper()
    if form == "colon_lower":
        return ":".join(plain[i : i + 2] for i in range(0, 12, 2))
    if form == "plain_upper":
        return plain.upper()
    return plain


def encryption_for(rng: random.Random, spec: TypeSpec, purchased: datetime.date) -> str:
    if not spec.data_bearing:
        return "not_applicable"
    # Older fleets are where unencrypted or undocumented storage hides.
    if purchased.year >= 2021:
        return rng.choices(["encrypted", "unknown"], weights=[9, 1])[0]
    return rng.choices(["encrypted", "not_encrypted", "unknown"], weights=[4, 3, 2])[0]


def asset_rows(rng: random.Random) -> list[list[str]]:
    rows = []
    tag_number = 0x0100
    asset_number = 104000
    used_serials: set[tuple[str, str]] = set()
    for spec in ASSET_TYPES:
        units = [unit for unit, _ in spec.units]
        unit_weights = [weight for _, weight in spec.units]
        for _ in range(spec.count):
            asset_number += rng.randint(1, 3)
            tag_number += rng.randint(1, 2)
            unit = rng.choices(units, weights=unit_weights)[0]
            models = [m for m in spec.models if not m.only_units or unit in m.only_units]
            model = rng.choices(models, weights=[m.weight for m in models])[0]
            serial = serial_from(rng, model.serial)
            while (model.manufacturer, serial) in used_serials:
                serial = serial_from(rng, model.serial)
            used_serials.add((model.manufacturer, serial))
            purchased = datetime.date(2015, 1, 1) + datetime.timedelta(days=rng.randint(0, 3950))
            in_service = purchased + datetime.timedelta(days=rng.randint(7, 60))
            interval = PM_INTERVAL_DAYS.get(spec.name, 365)
            if rng.random() < OVERDUE_SHARE:
                last_pm = AS_OF - datetime.timedelta(days=interval + rng.randint(3, 90))
            else:
                last_pm = AS_OF - datetime.timedelta(days=rng.randint(5, interval - 20))
            last_pm = max(last_pm, in_service)
            rows.append(
                [
                    f"SOG-{asset_number:06d}",
                    spec.name,
                    tag_id_text(tag_number, rng.choice(TAG_ID_FORMS)),
                    model.manufacturer,
                    model.model,
                    serial,
                    unit,
                    "true" if spec.data_bearing else "false",
                    "true" if spec.networked else "false",
                    encryption_for(rng, spec, purchased),
                    rng.choice(model.firmware) if model.firmware else "",
                    spec.risk_class,
                    in_service.isoformat(),
                    purchased.isoformat(),
                    last_pm.isoformat(),
                ]
            )
    return rows


def dump_csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def main(out_dir: Path = OUT_DIR) -> None:
    rng = random.Random(SEED)
    plans_dir = out_dir / "floorplans"
    plans_dir.mkdir(parents=True, exist_ok=True)
    expected = set()
    room_count = receiver_count = 0
    for building in HOSPITAL:
        for floor in building.floors:
            collection = floor_plan(rng, building, floor)
            name = f"{SITE}_{building.name.lower().replace(' ', '-')}_{floor.code}.geojson"
            expected.add(name)
            write_if_changed(plans_dir / name, dump_collection(collection))
            kinds = [feature["properties"]["kind"] for feature in collection["features"]]
            room_count += kinds.count("room")
            receiver_count += kinds.count("receiver")
    for stale in plans_dir.glob("*.geojson"):
        if stale.name not in expected:
            stale.unlink()
    rows = asset_rows(random.Random(SEED + 1))
    write_if_changed(out_dir / "assets.csv", dump_csv(rows))
    types = {
        "pm_interval_days": PM_INTERVAL_DAYS,
        "snomed_ct": {name: {"code": code, "display": display} for name, (code, display) in TYPE_CODES.items()},
    }
    write_if_changed(out_dir / "asset_types.json", json.dumps(types, indent=2) + "\n")
    print(
        f"wrote {len(expected)} floor plans ({room_count} rooms, {receiver_count} receivers) "
        f"and {len(rows)} assets to {out_dir}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output directory (default: {OUT_DIR})")
    main(parser.parse_args().out)
