"""The demo hospital has a biomed programme: schedules, a few overdue calibrations, 90 days of scheduled
work with misses and reasons, and loans; and the daily generator opens work orders on it."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from assets.models import Asset
from lifecycle.biomed import reports
from lifecycle.biomed.models import Loan, MaintenanceSchedule, SchedulePlan
from lifecycle.biomed.selectors import schedules_overdue
from lifecycle.biomed.utilisation import utilisation
from lifecycle.models import TransitionLog
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

    # 90 days of lifecycle history ending in each asset's state: the utilisation charts have something to show.

    rows = utilisation(period=period)
    in_use = [r.in_use_share for r in rows if r.in_use_share]
    assert len(in_use) >= 5 and min(in_use) < max(in_use)
    assert sum(r.turnarounds for r in rows) > 1000 and sum(r.downtime_seconds for r in rows) > 0
    assert sum(r.missing_seconds for r in rows) > 0
    last = TransitionLog.objects.filter(asset=OuterRef("pk")).order_by("-at", "-id").values("to_state")[:1]
    mismatched = Asset.objects.exclude(state="decommissioned").annotate(last=Subquery(last)).exclude(last=F("state"))
    assert not mismatched.filter(last__isnull=False).exists()
    assert not TransitionLog.objects.filter(at__gt=timezone.now()).exists()  # history, never the future

    out = StringIO()
    call_command("generate_work_orders", stdout=out)
    assert " opened," in out.getvalue()
