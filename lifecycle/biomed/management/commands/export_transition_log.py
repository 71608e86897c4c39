"""Export the transition log as CSV, oldest first, streaming: the raw material of the utilisation figures."""

import csv
from datetime import UTC

from django.core.management.base import BaseCommand

from config.spreadsheet import safe_cell
from lifecycle.models import TransitionLog
from locations.management.commands.export_location_history import parse_since

FIELDS = ["asset_tag", "asset_type", "unit", "at", "transition", "from_state", "to_state"]


class Command(BaseCommand):
    help = (
        "Export the transition log as CSV (asset_tag, asset_type, owning unit, at in UTC ISO 8601 with "
        "microseconds, transition, from_state, to_state), oldest first. --since/--until limit it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--since", help="Only transitions at or after this date or time (ISO 8601).")
        parser.add_argument("--until", help="Only transitions before this date or time (ISO 8601).")

    def handle(self, *args, since=None, until=None, **options):
        rows = TransitionLog.objects.order_by("at", "id")
        if since:
            rows = rows.filter(at__gte=parse_since(since))
        if until:
            rows = rows.filter(at__lt=parse_since(until))
        values = rows.values_list(
            "asset__asset_tag", "asset__asset_type__name", "asset__unit", "at", "transition", "from_state", "to_state"
        )
        writer = csv.writer(self.stdout)
        writer.writerow(FIELDS)
        for tag, type_name, unit, at, transition, from_state, to_state in values.iterator(chunk_size=5000):
            # Tags, type names and units come from imported files: a spreadsheet must not run one as a formula.
            writer.writerow(
                [
                    safe_cell(tag),
                    safe_cell(type_name),
                    safe_cell(unit),
                    at.astimezone(UTC).isoformat(),
                    transition,
                    from_state,
                    to_state,
                ]
            )
