from django.core.management.base import BaseCommand

from lifecycle.alerts.services import alerts_check_all


class Command(BaseCommand):
    help = (
        "Raise the periodic alerts (par below critical, missing, left site, low battery, PM overdue, open recall, "
        "silent receiver) and resolve those whose condition cleared. Safe to run as often as you like, e.g. every "
        "minute from cron or a systemd timer."
    )

    def handle(self, *args, **options):
        report = alerts_check_all()
        for alert in report.raised:
            self.stdout.write(f"raised   #{alert.pk} {alert.kind}: {alert.message}")
        for alert in report.resolved:
            self.stdout.write(f"resolved #{alert.pk} {alert.kind}: {alert.subject}")
        self.stdout.write(
            self.style.SUCCESS(f"check_alerts: {len(report.raised)} raised, {len(report.resolved)} resolved.")
        )
