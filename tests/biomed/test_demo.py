"""The demo hospital has a biomed programme: schedules, a few overdue calibrations, 90 days of scheduled
work with misses and reasons, and loans; and the daily generator opens work orders on it."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from lifecycle.biomed import reports
from lifecycle.biomed.models import Loan, MaintenanceSchedule, SchedulePlan
from lifecycle.biomed.selectors import schedules_overdue
from tests.assets.test_seed_demo import seeded  # noqa: F401  (the module-scoped seeded demo)


def test_the_demo_has_schedules_overdue_calibrations_history_and_loans(seeded, db):  # noqa: F811
    assert "scheduled work (90 days)" in seeded
    assert SchedulePlan.objects.filter(kind="calibration").count() >= 4
    overdue_calibrations = schedules_overdue(today=timezone.localdate()).filter(kind="calibration").count()
    assert 1 <= overdue_calibrations <= 6
    assert Loan.objects.filter(returned_at__isnull=True).count() >= 3
    assert Loan.objects.filter(rental_cost_per_day__isnull=False).exists()
    period = reports.Period(timezone.localdate() - timedelta(days=89), timezone.localdate())
    total = reports.totals(reports.accreditation_groups(period=period))
    assert total.counted >= 300 and 0 < total.misses < total.counted
    assert reports.rental_days(period=period)
    assert MaintenanceSchedule.objects.filter(kind="electrical_safety").exists()

    out = StringIO()
    call_command("generate_work_orders", stdout=out)
    assert " opened," in out.getvalue()
