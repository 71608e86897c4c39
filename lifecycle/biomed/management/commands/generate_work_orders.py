from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lifecycle.biomed.services import schedules_materialise, work_orders_generate


class Command(BaseCommand):
    help = (
        "Daily: bring every asset's maintenance schedules in line with the plans of its type and model, then open "
        "a work order for each schedule due within its lead days (or failed) that has none open. Safe to run again "
        "(it opens nothing twice). Run it once a day from a systemd timer (docs/biomed.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--today", help="Generate as of this date (YYYY-MM-DD); default: today.")

    def handle(self, *args, today=None, **options):
        try:
            day = date.fromisoformat(today) if today else timezone.localdate()
        except ValueError:
            raise CommandError(f"--today {today!r} is not a date (YYYY-MM-DD)") from None
        synced = schedules_materialise()
        result = work_orders_generate(today=day)
        for work_order in result.opened:
            work = work_order.scheduled
            self.stdout.write(
                f"opened {work_order.reference} {work.schedule.label} for {work_order.asset} due {work.due_date}"
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"generate_work_orders {day}: {len(result.opened)} opened, {result.already_open} already open, "
                f"{synced} schedule row(s) synced with their plans."
            )
        )
