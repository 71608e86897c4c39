from datetime import date

from django.core.management.base import BaseCommand, CommandError

from lifecycle.biomed.utilisation import RollupError, utilisation_rollup


class Command(BaseCommand):
    help = (
        "Roll up the utilisation figures of every closed day not rolled up yet (state time per day, type, unit; "
        "turnaround cycles), so the utilisation page reads 90 days in milliseconds. Daily after midnight from a "
        "systemd timer (docs/biomed.md); safe to run again. --rebuild-from DAY recomputes from that day on (all or "
        "nothing). A day is rolled up once it is over: --until is at most yesterday."
    )

    def add_arguments(self, parser):
        parser.add_argument("--until", help="Last day to roll up (YYYY-MM-DD); default yesterday.")
        parser.add_argument("--rebuild-from", help="Recompute the rollups from this day (YYYY-MM-DD) on.")

    def handle(self, *args, until=None, rebuild_from=None, **options):
        until_day = _day("--until", until)
        rebuild_day = _day("--rebuild-from", rebuild_from)
        try:
            days = utilisation_rollup(until=until_day, rebuild_from=rebuild_day)
        except RollupError as exc:
            raise CommandError(f"--{exc.option.replace('_', '-')} {exc.detail}") from None
        span = f"{days[0]} to {days[-1]}" if days else "nothing new"
        self.stdout.write(self.style.SUCCESS(f"rollup_utilisation: {len(days)} day(s) rolled up ({span})."))


def _day(option: str, text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{option} {text!r} is not a date (YYYY-MM-DD)") from None
