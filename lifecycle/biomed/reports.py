"""The accreditation report (modelled on Joint Commission EC.02.04.01 / EC.02.04.03), docs/biomed.md.

For a period (first and last day, inclusive, in the site's time zone):
- every scheduled maintenance activity due in the period (ScheduledWork.due_date), per asset type, owning
  unit and risk group (high-risk / other), and the share completed on time;
- every miss with its reason (closed late, cancelled, or still open past its due date); high-risk equipment
  must be at 100%, so each of its misses is listed;
- "could not locate": devices due or overdue for maintenance that the RTLS does not see now, with their last
  room and time;
- rental-days and rental cost of rented devices on loan during the period.

Outcome of one activity (``OUTCOMES``):
- on_time: closed done (pass or fail: the activity was performed) on or before its due date;
- late: closed done after its due date; cancelled: cancelled (a miss);
- overdue: still open and its due date has passed (a miss as of today);
- pending: still open and not yet due; not counted in the share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.utils import timezone

from assets.models import Asset
from declarations.location_status import LocationStatus
from declarations.states import AssetState
from lifecycle.biomed.models import Loan, ScheduledWork
from lifecycle.biomed.selectors import assets_maintenance_overdue, high_risk_q
from lifecycle.exceptions import LifecycleError
from lifecycle.models import OPEN_WORK_ORDER_STATUSES, WorkOrderStatus
from locations.freshness import status_annotation

HIGH, OTHER = "high", "other"
OUTCOMES = ("on_time", "late", "cancelled", "overdue", "pending")
MISSES = ("late", "cancelled", "overdue")
MAX_PERIOD_DAYS = 800


class ReportError(LifecycleError):
    status_code = 400
    code = "report_invalid"


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @classmethod
    def parse(cls, start: str | None, end: str | None, *, default_days: int = 30) -> Period:
        """From query parameters; default: the last ``default_days`` days up to today."""
        today = timezone.localdate()
        try:
            end_day = date.fromisoformat(end) if end else today
        except ValueError:
            raise ReportError(f"end {end!r} is not a date (YYYY-MM-DD)") from None
        try:
            start_day = date.fromisoformat(start) if start else end_day - timedelta(days=default_days - 1)
        except ValueError:
            raise ReportError(f"start {start!r} is not a date (YYYY-MM-DD)") from None
        if start_day > end_day:
            raise ReportError(f"start {start_day} is after end {end_day}")
        if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
            raise ReportError(f"a period is at most {MAX_PERIOD_DAYS} days")
        return cls(start_day, end_day)

    @property
    def start_at(self) -> datetime:
        """The first instant of the period: local midnight of its first day."""
        return timezone.make_aware(datetime.combine(self.start, time.min))

    @property
    def end_at(self) -> datetime:
        """The first instant after the period: local midnight after its last day (exclusive)."""
        return timezone.make_aware(datetime.combine(self.end + timedelta(days=1), time.min))

    @property
    def query(self) -> str:
        return f"start={self.start:%Y-%m-%d}&end={self.end:%Y-%m-%d}"


def risk_group_expression(prefix: str = ""):
    """High-risk: lifecycle.biomed.selectors.high_risk_q (the asset's flag, else its type's, life-support, or
    risk class high)."""

    return Case(When(high_risk_q(prefix), then=Value(HIGH)), default=Value(OTHER), output_field=CharField())


def _outcome_expression(today: date):
    status = "work_order__status"
    return Case(
        When(
            Q(**{status: WorkOrderStatus.DONE}) & Q(performed_on__lte=F("due_date")),
            then=Value("on_time"),
        ),
        When(**{status: WorkOrderStatus.DONE}, then=Value("late")),
        When(**{status: WorkOrderStatus.CANCELLED}, then=Value("cancelled")),
        When(due_date__lt=today, then=Value("overdue")),
        default=Value("pending"),
        output_field=CharField(),
    )


def accreditation_rows(
    *,
    period: Period,
    today: date | None = None,
    asset_type_id: int | None = None,
    unit: str | None = None,
    risk: str | None = None,
    outcomes: tuple[str, ...] | None = None,
) -> QuerySet[ScheduledWork]:
    """The activities due in the period, each with ``outcome``, ``risk_group``, ``asset_type_name``, ``unit``.
    The filters select the rows behind one figure of the report."""
    today = today or timezone.localdate()
    rows = (
        ScheduledWork.objects.filter(due_date__gte=period.start, due_date__lte=period.end)
        .select_related("work_order__asset__asset_type", "schedule")
        .annotate(
            outcome=_outcome_expression(today),
            risk_group=risk_group_expression("work_order__asset__"),
            asset_type_id=F("work_order__asset__asset_type_id"),
            asset_type_name=F("work_order__asset__asset_type__name"),
            unit=F("work_order__asset__unit"),
        )
        .order_by("due_date", "work_order__asset__asset_tag", "pk")
    )
    if asset_type_id is not None:
        rows = rows.filter(asset_type_id=asset_type_id)
    if unit is not None:
        rows = rows.filter(unit=unit)
    if risk is not None:
        rows = rows.filter(risk_group=risk)
    if outcomes:
        rows = rows.filter(outcome__in=outcomes)
    return rows


@dataclass
class ReportGroup:
    asset_type_id: int
    asset_type: str
    unit: str
    risk: str
    counts: dict

    @property
    def counted(self) -> int:
        """Activities whose outcome is known: all but pending."""
        return sum(self.counts[o] for o in OUTCOMES if o != "pending")

    @property
    def misses(self) -> int:
        return sum(self.counts[o] for o in MISSES)

    @property
    def on_time_share(self) -> float | None:
        return None if not self.counted else self.counts["on_time"] / self.counted


def accreditation_groups(*, period: Period, today: date | None = None) -> list[ReportGroup]:
    """One row per (asset type, unit, risk group): the count of each outcome. One SQL query."""
    rows = (
        accreditation_rows(period=period, today=today)
        .order_by()
        .values("asset_type_id", "asset_type_name", "unit", "risk_group")
        .annotate(**{o: Count("pk", filter=Q(outcome=o)) for o in OUTCOMES})
    )
    groups = [
        ReportGroup(
            asset_type_id=r["asset_type_id"],
            asset_type=r["asset_type_name"],
            unit=r["unit"],
            risk=r["risk_group"],
            counts={o: r[o] for o in OUTCOMES},
        )
        for r in rows
    ]
    return sorted(groups, key=lambda g: (g.risk != HIGH, g.asset_type, g.unit))


def totals(groups: list[ReportGroup], risk: str | None = None) -> ReportGroup:
    chosen = [g for g in groups if risk is None or g.risk == risk]
    return ReportGroup(
        asset_type_id=0,
        asset_type="all",
        unit="all",
        risk=risk or "all",
        counts={o: sum(g.counts[o] for g in chosen) for o in OUTCOMES},
    )


def could_not_locate(*, period: Period, today: date | None = None, now: datetime | None = None) -> QuerySet[Asset]:
    """Assets in service due for maintenance (a schedule overdue or failed, or open scheduled work due by the
    period's end) that the RTLS does not see now (stale or missing), with ``location_status``, ``current_room``
    and ``last_seen``: the list to go and look for."""

    today = today or timezone.localdate()
    open_due = ScheduledWork.objects.filter(
        work_order__status__in=OPEN_WORK_ORDER_STATUSES, due_date__lte=period.end
    ).values("work_order__asset_id")
    due = Q(pk__in=assets_maintenance_overdue(today=today).values("pk")) | Q(pk__in=open_due)
    return (
        Asset.objects.exclude(state=AssetState.DECOMMISSIONED)
        .filter(due)
        .annotate(location_status=status_annotation(now), risk_group=risk_group_expression())
        .exclude(location_status=LocationStatus.LOCATED)
        .select_related("asset_type", "current_room__floor__building")
        .order_by("-risk_group", "last_seen", "asset_tag")
    )


@dataclass
class RentalLine:
    loan: Loan
    days: Decimal
    cost: Decimal


def rental_days(*, period: Period, now: datetime | None = None) -> list[RentalLine]:
    """Loans with a rental cost per day that overlap the period: the days they count in it (to the second,
    in days with two decimals) and their cost. An open loan counts up to now."""
    now = now or timezone.now()
    lines = []
    loans = (
        Loan.objects.filter(rental_cost_per_day__isnull=False, lent_at__lt=period.end_at)
        .filter(Q(returned_at__isnull=True) | Q(returned_at__gt=period.start_at))
        .select_related("asset__asset_type")
        .order_by("lent_at", "pk")
    )
    for loan in loans:
        start = max(loan.lent_at, period.start_at)
        end = min(loan.returned_at or now, period.end_at)
        seconds = max(0, int((end - start).total_seconds()))
        if seconds == 0:
            continue
        days = (Decimal(seconds) / Decimal(86400)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        cost = (Decimal(seconds) / Decimal(86400) * loan.rental_cost_per_day).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        lines.append(RentalLine(loan=loan, days=days, cost=cost))
    return lines


def miss_reason(work: ScheduledWork) -> str:
    if work.miss_reason:
        return work.miss_reason
    if getattr(work, "outcome", "") == "overdue":
        return "not done: still open past its due date"
    return "no reason recorded"
