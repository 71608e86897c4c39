from datetime import date

from django.core.management.base import BaseCommand, CommandError

from lifecycle.biomed.utilisation import utilisation_rollup


class Command(BaseCommand):
    help = (
        "Roll up the utilisation figures of every closed day not rolled up yet (state time per day, type, unit; "
        "turnaround cycles), so the utilisation page reads 90 days in milliseconds. Daily after midnight from a "
        "systemd timer (docs/biomed.md); safe to run again. --rebuild-from DAY recomputes from that day on."
    )

    def add_arguments(self, parser):
        parser.add_argument("--until", help="Last day to roll up (YYYY-MM-DD); default yesterday.")
        parser.add_argument("--rebuild-from", help="Recompute the rollups from this day (YYYY-MM-DD) on.")

    def handle(self, *args, until=None, rebuild_from=None, **options):
        try:
            until_day = date.fromisoformat(until) if until else None
            rebuild_day = date.fromisoformat(rebuild_from) if rebuild_from else None
        except ValueError as exc:
            raise CommandError(f"not a date (YYYY-MM-DD): {exc}") from None
        days = utilisation_rollup(until=until_day, rebuild_from=rebuild_day)
        span = f"{days[0]} to {days[-1]}" if days else "nothing new"
        self.stdout.write(self.style.SUCCESS(f"rollup_utilisation: {len(days)} day(s) rolled up ({span})."))
