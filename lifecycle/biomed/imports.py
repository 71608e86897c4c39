"""The asset import's optional schedule columns (lifecycle.asset_import.assets_import calls these).

Per kind (pm, calibration, electrical_safety): ``<kind>_interval`` ("365", "365d" or "12m") and
``<kind>_last_done`` (YYYY-MM-DD, the last passing completion). The older ``pm_interval_days`` and
``last_pm_date`` columns still work and mean the PM schedule. An interval on a row overrides the plan of the
asset's type for that asset; a last-done date without an interval needs a plan for the type or model.
"""

from __future__ import annotations

import re
from datetime import date

from django.utils.translation import gettext as _

from lifecycle.biomed.models import IntervalUnit, MaintenanceSchedule, ScheduleKind
from lifecycle.biomed.services import ScheduleError, schedule_set

KINDS = (ScheduleKind.PM, ScheduleKind.CALIBRATION, ScheduleKind.ELECTRICAL_SAFETY)
LEGACY = {"pm_interval_days": (ScheduleKind.PM, "interval"), "last_pm_date": (ScheduleKind.PM, "last_done")}
SCHEDULE_COLUMNS = (
    *LEGACY,
    *(column for kind in KINDS for column in (f"{kind.value}_interval", f"{kind.value}_last_done")),
)
# At most 6 digits: int() of thousands of digits is refused (and no interval is that long anyway).
_INTERVAL = re.compile(r"^\s*(\d{1,6})\s*([dm]?)\s*$", re.IGNORECASE | re.ASCII)


def _column_meaning(column: str) -> tuple[str, str]:
    if column in LEGACY:
        return LEGACY[column]
    kind, _, what = column.rpartition("_interval") if column.endswith("_interval") else ("", "", "")
    if kind:
        return kind, "interval"
    return column.removesuffix("_last_done"), "last_done"


def parse_schedule_columns(raw: dict, present: set[str], problems: list[str]) -> dict:
    """{kind: {"interval": (value, unit), "last_done": date}} for the schedule columns of one row."""
    found: dict = {}
    for column in SCHEDULE_COLUMNS:
        if column not in present:
            continue
        text = (raw.get(column) or "").strip()
        if not text:
            continue
        kind, what = _column_meaning(column)
        if what == "interval":
            match = _INTERVAL.match(text)
            if column == "pm_interval_days":
                # isdecimal and isascii: "²".isdigit() is True, but int("²") fails.
                if not (text.isdecimal() and text.isascii() and len(text) <= 6 and 1 <= int(text) <= 3650):
                    problems.append(
                        _("%(column)s %(value)s is not a number of days from 1 to 3650")
                        % {"column": column, "value": repr(text)}
                    )
                    continue
                value = (int(text), IntervalUnit.DAYS)
            elif not match:
                problems.append(
                    _("%(column)s %(value)s is not an interval: give days (365 or 365d) or months (12m)")
                    % {"column": column, "value": repr(text)}
                )
                continue
            else:
                number, unit = int(match.group(1)), IntervalUnit.MONTHS if match.group(2).lower() == "m" else "days"
                limit = 120 if unit == IntervalUnit.MONTHS else 3650
                if not 1 <= number <= limit:
                    problems.append(
                        _("%(column)s %(value)s is out of range: 1 to 3650 days or 1 to 120 months")
                        % {"column": column, "value": repr(text)}
                    )
                    continue
                value = (number, unit)
            found.setdefault(kind, {})["interval"] = value
        else:
            try:
                day = date.fromisoformat(text)
            except ValueError:
                problems.append(
                    _("%(column)s %(value)s is not a date (YYYY-MM-DD)") % {"column": column, "value": repr(text)}
                )
                continue
            found.setdefault(kind, {})["last_done"] = day
    return found


def schedules_import(*, asset, columns: dict, user=None) -> bool:
    """Apply one row's schedule columns to the asset; True when anything changed. Raises ScheduleError."""

    changed = False
    for kind, values in columns.items():
        current = MaintenanceSchedule.objects.filter(asset=asset, kind=kind, name="").first()
        interval = values.get("interval")
        last_done = values.get("last_done")
        if current is None and interval is None:
            raise ScheduleError(
                f"{kind}_last_done needs an interval: give {kind}_interval, or a {kind} plan for the asset's type"
            )
        same_interval = interval is None or (
            current is not None and (current.interval_value, current.interval_unit) == interval
        )
        same_done = last_done is None or (
            current is not None and current.last_done is not None and current.last_done >= last_done
        )
        if same_interval and same_done:
            continue
        schedule_set(
            asset=asset,
            kind=kind,
            interval_value=None if same_interval else interval[0],
            interval_unit=None if same_interval else interval[1],
            last_done=last_done,
            user=user,
        )
        changed = True
    return changed
