"""Read side of the biomed programme: which schedules are overdue or failed, what is due, which loans are open.

"Overdue" has one definition (docs/biomed.md): an active schedule of an asset in service whose due date
is before today, or whose last result was a fail (the device failed its test and has not passed since).
Every interface asks these selectors: the serviceability guard, nearest search, par levels, the map, the
API, the admin filters and the alerts.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.biomed.models import KIND_SHORT, Loan, MaintenanceSchedule, ScheduleKind, WorkResult


def _overdue_q(today: date, prefix: str = "") -> Q:
    return Q(**{f"{prefix}active": True}) & (
        Q(**{f"{prefix}next_due__lt": today}) | Q(**{f"{prefix}last_result": WorkResult.FAIL})
    )


def schedules_overdue(*, today: date) -> QuerySet[MaintenanceSchedule]:
    """Active schedules of assets in service that are past due or failed."""
    return MaintenanceSchedule.objects.filter(_overdue_q(today)).exclude(asset__state=AssetState.DECOMMISSIONED)


def assets_maintenance_overdue(*, today: date) -> QuerySet[Asset]:
    """Assets in service with any overdue or failed schedule (an EXISTS on the indexed schedule table)."""
    overdue = MaintenanceSchedule.objects.filter(_overdue_q(today), asset=OuterRef("pk"))
    return Asset.objects.exclude(state=AssetState.DECOMMISSIONED).filter(Exists(overdue))


def asset_overdue_schedules(*, asset: Asset, today: date | None = None) -> list[MaintenanceSchedule]:
    today = today or timezone.localdate()
    if asset.pk is None:
        return []
    return list(MaintenanceSchedule.objects.filter(_overdue_q(today), asset_id=asset.pk).order_by("next_due", "pk"))


def schedule_blocker(schedule: MaintenanceSchedule, today: date) -> str:
    """One reason in words: "PM overdue since 2026-10-02", "calibration failed on 2026-11-30"."""
    what = schedule.name or str(KIND_SHORT[ScheduleKind(schedule.kind)])
    if schedule.last_result == WorkResult.FAIL:
        if schedule.last_result_on:
            return _("%(what)s failed on %(date)s") % {"what": what, "date": f"{schedule.last_result_on:%Y-%m-%d}"}
        return _("%(what)s failed") % {"what": what}
    return _("%(what)s overdue since %(date)s") % {"what": what, "date": f"{schedule.next_due:%Y-%m-%d}"}


def asset_schedule_blockers(*, asset: Asset, today: date | None = None) -> list[str]:
    today = today or timezone.localdate()
    return [schedule_blocker(s, today) for s in asset_overdue_schedules(asset=asset, today=today)]


def asset_next_due(*, asset: Asset) -> date | None:
    """The earliest due date among the asset's active schedules; None when none is known."""
    if asset.pk is None:
        return None
    return (
        MaintenanceSchedule.objects.filter(asset_id=asset.pk, active=True, next_due__isnull=False)
        .order_by("next_due")
        .values_list("next_due", flat=True)
        .first()
    )


def asset_schedules(*, asset: Asset) -> QuerySet[MaintenanceSchedule]:
    return MaintenanceSchedule.objects.filter(asset=asset).order_by("-active", "next_due", "kind", "name")


# Loans ---------------------------------------------------------------------------------------------


def loans_open() -> QuerySet[Loan]:
    return Loan.objects.filter(returned_at__isnull=True)


def loans_overdue(*, now: datetime | None = None) -> QuerySet[Loan]:
    return loans_open().filter(expected_return__lt=now or timezone.now())


def assets_loan_overdue(*, now: datetime | None = None) -> QuerySet[Asset]:
    return Asset.objects.filter(pk__in=loans_overdue(now=now).values("asset_id"))


def asset_open_loan(*, asset: Asset) -> Loan | None:
    if asset.pk is None:
        return None
    return loans_open().filter(asset_id=asset.pk).first()


# Classification ------------------------------------------------------------------------------------


def life_support_q(prefix: str = "") -> Q:
    """The asset is life-support: its own flag, or (blank) its type's."""
    return Q(**{f"{prefix}life_support": True}) | (
        Q(**{f"{prefix}life_support__isnull": True}) & Q(**{f"{prefix}asset_type__life_support": True})
    )


def high_risk_q(prefix: str = "") -> Q:
    """The asset is high-risk: its own flag when set; else its type is high-risk, or it is life-support, or its
    risk class is high. (An asset flagged high_risk=False is not, whatever its type says.)"""
    inherited = (
        Q(**{f"{prefix}asset_type__high_risk": True}) | life_support_q(prefix) | Q(**{f"{prefix}risk_class": "high"})
    )
    return Q(**{f"{prefix}high_risk": True}) | (Q(**{f"{prefix}high_risk__isnull": True}) & inherited)


def security_inventory() -> QuerySet[Asset]:
    """Data-bearing or networked devices in service, with their encryption status and firmware."""
    return (
        Asset.objects.exclude(state=AssetState.DECOMMISSIONED)
        .filter(Q(data_bearing=True) | Q(networked=True))
        .select_related("asset_type")
        .order_by("encryption_status", "asset_type__name", "asset_tag")
    )
