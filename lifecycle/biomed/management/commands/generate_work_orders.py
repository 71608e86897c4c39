from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from lifecycle.biomed.models import ScheduledWork
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

        shown = ScheduledWork.objects.filter(work_order__in=[wo.pk for wo in result.opened[:50]]).select_related(
            "work_order__asset", "schedule"
        )
        for work in shown.order_by("work_order_id"):
            self.stdout.write(
                f"opened {work.work_order.reference} {work.schedule.label} for {work.work_order.asset} "
                f"due {work.due_date}"
            )
        if len(result.opened) > 50:
            self.stdout.write(f"... and {len(result.opened) - 50} more")
        self.stdout.write(
            self.style.SUCCESS(
                f"generate_work_orders {day}: {len(result.opened)} opened, {result.already_open} already open, "
                f"{synced} schedule row(s) synced with their plans."
            )
        )
