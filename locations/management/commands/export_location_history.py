"""Export every asset's room stays (docs/design.md §5) as JSONL or CSV, streaming."""

import csv
import json
import os
from datetime import UTC, date, datetime, time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from config.spreadsheet import safe_cell
from locations.selectors import location_history_rows

FIELDS = ["asset_tag", "room", "floor", "building", "entered_at", "left_at"]


def format_time(moment: datetime | None) -> str | None:
    """UTC, ISO 8601 with milliseconds and Z, as the gateways send times: 2026-11-22T08:00:00.512Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_since(value: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is in the site's TIME_ZONE."""
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), time.min)
        except ValueError:
            raise CommandError(
                f"--since {value!r} is not an ISO 8601 date or time; use e.g. 2026-11-22 or 2026-11-22T08:00:00Z"
            ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class _Writer:
    """A file-like face for the command's stdout, so csv.writer can use it."""

    def __init__(self, write):
        self.write = write


class Command(BaseCommand):
    help = (
        "Export the location history: one row per stay of an asset in a room, oldest first. JSONL lines are "
        '{"asset_tag", "room", "floor", "building", "entered_at", "left_at"} (room, floor and building are '
        "their codes; times UTC ISO 8601; left_at null while the asset is still there). CSV has the same "
        "columns with a header. With --since, only stays still going on at that time or begun after it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="ISO 8601 date or time, e.g. 2026-11-22T08:00:00Z")
        parser.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", dest="output_format")
        parser.add_argument("--output", metavar="FILE", help="write here instead of standard output")

    def handle(self, *args, since, output_format, output, **options):
        since_at = parse_since(since) if since else None
        rows = location_history_rows(since=since_at).iterator(chunk_size=2000)
        if output is None:
            count = self._write(_Writer(lambda text: self.stdout.write(text, ending="")), rows, output_format)
            self.stderr.write(f"{count:,} stays exported")
            return
        path = Path(output)
        if path.parent and not path.parent.is_dir():
            raise CommandError(f"--output {output}: the directory {path.parent} does not exist")
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as stream:
                count = self._write(stream, rows, output_format)
            os.replace(partial, path)  # readers never see a half-written export
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        self.stderr.write(f"{count:,} stays exported to {path}")

    def _write(self, stream, rows, output_format) -> int:
        count = 0
        if output_format == "csv":
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(FIELDS)
            for asset_tag, room, floor, building, entered_at, left_at in rows:
                # Codes and tags come from imported files: a spreadsheet must not run one as a formula.
                writer.writerow(
                    [
                        safe_cell(asset_tag),
                        safe_cell(room),
                        safe_cell(floor),
                        safe_cell(building),
                        format_time(entered_at),
                        format_time(left_at) or "",
                    ]
                )
                count += 1
            return count
        for asset_tag, room, floor, building, entered_at, left_at in rows:
            line = {
                "asset_tag": asset_tag,
                "room": room,
                "floor": floor,
                "building": building,
                "entered_at": format_time(entered_at),
                "left_at": format_time(left_at),
            }
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            count += 1
        return count
