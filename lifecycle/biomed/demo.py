"""The demo hospital's biomed programme (seed_demo): calibration and electrical-safety plans, a few overdue
calibrations, 90 days of scheduled work (mostly on time, some late or cancelled with reasons) and loans.

Written with bulk_create so ``make demo`` stays fast; deterministic (seeded) and run once: a second seed_demo
finds the calibration plans and leaves everything as it is.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from assets.models import Asset, AssetType
from declarations.states import AssetState
from lifecycle.alerts.models import Alert
from lifecycle.biomed.models import Loan, MaintenanceSchedule, ScheduledWork, SchedulePlan, add_interval
from lifecycle.biomed.services import schedules_materialise
from lifecycle.models import Source, TransitionLog, WorkOrder, WorkOrderKind, WorkOrderStatus

CALIBRATED = {  # type -> (months, checklist)
    "Infusion pump": (12, ["Flow-rate accuracy at 25 and 100 ml/h", "Occlusion pressure alarm", "Battery run time"]),
    "Vital signs monitor": (12, ["NIBP against reference", "SpO2 simulator reading", "Temperature probe"]),
    "Ventilator": (6, ["Tidal volume against analyser", "O2 sensor calibration", "Alarm test"]),
    "Defibrillator": (6, ["Energy delivered at 50/150/200 J", "Charge time", "ECG simulator"]),
    "Bladder scanner": (12, ["Phantom volume reading"]),
}
SAFETY_TESTED = ("Infusion pump", "Vital signs monitor", "Ventilator", "Defibrillator", "SCD pump", "Feeding pump")
LATE_REASONS = ("device in use on a patient", "could not be located on the ward", "waiting for a spare part")
CANCEL_REASONS = ("sent to the vendor for repair", "device lent to another site")
HISTORY_DAYS = 90


@transaction.atomic
def demo_biomed_ensure(*, today: date | None = None, seed: int = 11) -> dict[str, int]:
    if SchedulePlan.objects.filter(kind="calibration").exists():
        return {}
    today = today or timezone.localdate()
    rng = random.Random(seed)
    # Classification: ventilators and defibrillators are life-support; pumps and monitors high-risk.
    AssetType.objects.filter(name__in=["Ventilator", "Defibrillator"]).update(high_risk=True, life_support=True)
    AssetType.objects.filter(name__in=["Infusion pump", "Vital signs monitor"]).update(high_risk=True)
    types = {t.name: t for t in AssetType.objects.all()}
    for name, (months, checklist) in CALIBRATED.items():
        if name in types:
            SchedulePlan.objects.create(
                asset_type=types[name],
                kind="calibration",
                interval_value=months,
                interval_unit="months",
                checklist=checklist,
                lead_days=21,
            )
    for name in SAFETY_TESTED:
        if name in types:
            SchedulePlan.objects.create(
                asset_type=types[name], kind="electrical_safety", interval_value=12, interval_unit="months"
            )
    schedules_materialise()

    # Calibrations and safety tests: last done some time within the interval; a few fell due a few days ago.
    new = list(
        MaintenanceSchedule.objects.filter(kind__in=["calibration", "electrical_safety"], active=True)
        .exclude(asset__state=AssetState.DECOMMISSIONED)
        .order_by("pk")
    )
    overdue_budget = 6
    for schedule in new:
        span = (add_interval(today, schedule.interval_value, "months") - today).days
        if schedule.kind == "calibration" and overdue_budget and rng.random() < 0.03:
            overdue_budget -= 1
            last = add_interval(today, -schedule.interval_value, "months") - timedelta(days=rng.randint(2, 20))
        else:
            last = today - timedelta(days=rng.randint(0, span - 25))
        schedule.last_done, schedule.last_result, schedule.last_result_on = last, "pass", last
        schedule.next_due = add_interval(last, schedule.interval_value, "months")
    MaintenanceSchedule.objects.bulk_update(new, ["last_done", "last_result", "last_result_on", "next_due"])

    work = _history(rng, today)
    loans = _loans(rng)
    transitions = _state_history(rng)
    return {
        "schedule plans": SchedulePlan.objects.count(),
        "scheduled work (90 days)": work,
        "loans": loans,
        "transitions (90 days)": transitions,
    }


def _history(rng: random.Random, today: date) -> int:
    """Closed scheduled work due in the last 90 days, for the accreditation report."""
    biomed = get_user_model().objects.filter(username="biomed").first()
    schedules = list(
        MaintenanceSchedule.objects.filter(active=True, last_done__isnull=False)
        .exclude(asset__state=AssetState.DECOMMISSIONED)
        .select_related("asset")
        .order_by("pk")
    )
    rng.shuffle(schedules)
    kinds = {"pm": WorkOrderKind.PM, "calibration": WorkOrderKind.CALIBRATION}
    orders, details = [], []
    for schedule in schedules[:400]:
        due = today - timedelta(days=rng.randint(1, HISTORY_DAYS))
        roll = rng.random()
        if roll < 0.84:
            performed, status, reason = due - timedelta(days=rng.randint(0, 10)), WorkOrderStatus.DONE, ""
        elif roll < 0.95:
            performed, status, reason = due + timedelta(days=rng.randint(1, 12)), WorkOrderStatus.DONE, ""
            reason = rng.choice(LATE_REASONS)
        else:
            performed, status, reason = None, WorkOrderStatus.CANCELLED, rng.choice(CANCEL_REASONS)
        performed = min(performed, today) if performed else None
        closed_on = performed or due
        closed_at = timezone.make_aware(datetime.combine(closed_on, time.min))
        closed_at += timedelta(hours=rng.randint(8, 16))
        orders.append(
            WorkOrder(
                asset=schedule.asset,
                kind=kinds.get(schedule.kind, WorkOrderKind.ELECTRICAL_SAFETY),
                status=status,
                technician=biomed,
                opened_by=None,
                opened_at=closed_at - timedelta(days=14),
                closed_at=closed_at,
                notes=f"{schedule.label} due {due}",
            )
        )
        details.append((schedule, due, performed, reason))
    WorkOrder.objects.bulk_create(orders, batch_size=1000)
    ScheduledWork.objects.bulk_create(
        [
            ScheduledWork(
                work_order=order,
                schedule=schedule,
                due_date=due,
                performed_on=performed,
                result="pass" if performed else "",
                miss_reason=reason,
            )
            for order, (schedule, due, performed, reason) in zip(orders, details, strict=True)
        ],
        batch_size=1000,
    )
    return len(orders)


def _loans(rng: random.Random) -> int:
    lender = get_user_model().objects.filter(username="dispatch").first() or get_user_model().objects.first()
    if lender is None:
        return 0
    now = timezone.now()
    pumps = list(
        Asset.objects.filter(asset_type__name="Infusion pump")
        .exclude(state=AssetState.DECOMMISSIONED)
        .order_by("pk")[:3]
    )
    beds = list(Asset.objects.filter(asset_type__name="Hospital bed").order_by("pk")[:1])
    vents = list(Asset.objects.filter(asset_type__name="Ventilator").order_by("-pk")[:1])
    plan = [
        (
            pumps[:1],
            "patient_home",
            "Home infusion, MRN 004217",
            now - timedelta(days=3),
            now + timedelta(days=4),
            None,
        ),
        (
            pumps[1:2],
            "patient_home",
            "Home infusion, MRN 009932",
            now - timedelta(days=9),
            now - timedelta(days=1),
            None,
        ),
        (
            beds,
            "rental_return",
            "MedRent AS (bariatric bed rental)",
            now - timedelta(days=20),
            now + timedelta(days=10),
            Decimal("38.50"),
        ),
        (vents, "vendor_repair", "Vendor depot, RMA 55812", now - timedelta(days=6), now + timedelta(days=8), None),
    ]
    loans = [
        Loan(
            asset=assets[0],
            kind=kind,
            borrower=borrower,
            lent_at=lent,
            expected_return=due,
            rental_cost_per_day=cost,
            lent_by=lender,
        )
        for assets, kind, borrower, lent, due, cost in plan
        if assets
    ]
    Loan.objects.bulk_create(loans)
    return len(loans)


# 90 days of lifecycle history (for the utilisation charts) ------------------------------------------------

_CYCLE = [
    ("start_use", "available", "in_use", (2, 60)),
    ("return", "in_use", "soiled", (6, 120)),
    ("start_cleaning", "soiled", "cleaning", (0.5, 10)),
    ("finish_cleaning", "cleaning", "available", (0.5, 4)),
]
# From available, the last steps that end in the asset's current state.
_TO_CURRENT = {
    "available": [],
    "in_use": [("start_use", "available", "in_use")],
    "reserved": [("reserve", "available", "reserved")],
    "soiled": [("start_use", "available", "in_use"), ("return", "in_use", "soiled")],
    "cleaning": [
        ("start_use", "available", "in_use"),
        ("return", "in_use", "soiled"),
        ("start_cleaning", "soiled", "cleaning"),
    ],
    "biomed": [("send_to_biomed", "available", "biomed")],
}


def _state_history(rng: random.Random) -> int:
    """Cycles of use, return, cleaning (some via biomed, with repairs of a few days), from 90 days ago to now,
    ending in each asset's current state; the assets are dated 91 days back; a few missing-alert periods."""

    now = timezone.now()
    start = now - timedelta(days=HISTORY_DAYS)
    assets = list(Asset.objects.exclude(state=AssetState.DECOMMISSIONED).order_by("pk"))
    Asset.objects.filter(pk__in=[a.pk for a in assets]).update(created_at=start - timedelta(days=1))
    rows = []
    busy = {a.asset_type_id: rng.uniform(0.4, 2.5) for a in assets}  # some types are used far more than others
    for asset in assets:
        t = start + timedelta(hours=rng.uniform(0, 48))
        end = now - timedelta(hours=2)
        while True:
            idle = timedelta(hours=rng.expovariate(1 / (24 / busy[asset.asset_type_id])))
            if t + idle > end:
                break
            t += idle
            for name, frm, to, (low, high) in _CYCLE:
                if name == "finish_cleaning" and rng.random() < 0.06:
                    rows.append(
                        TransitionLog(
                            asset=asset,
                            transition=name,
                            from_state=frm,
                            to_state="biomed",
                            at=t,
                            room_id=asset.current_room_id,
                            source=Source.USER,
                            note="sent to biomed instead of available: calibration overdue",
                        )
                    )
                    t = min(t + timedelta(hours=rng.uniform(12, 96)), end)  # never past now
                    rows.append(
                        TransitionLog(
                            asset=asset,
                            transition="return_to_service",
                            from_state="biomed",
                            to_state="available",
                            at=t,
                            room_id=asset.current_room_id,
                        )
                    )
                    break
                rows.append(
                    TransitionLog(
                        asset=asset, transition=name, from_state=frm, to_state=to, at=t, room_id=asset.current_room_id
                    )
                )
                t = min(t + timedelta(hours=rng.uniform(low, high)), end)  # a cycle under way ends by now
        t = max(t, end)
        for name, frm, to in _TO_CURRENT.get(str(asset.state), []):
            t += timedelta(minutes=rng.uniform(5, 30))
            rows.append(
                TransitionLog(
                    asset=asset, transition=name, from_state=frm, to_state=to, at=t, room_id=asset.current_room_id
                )
            )
    TransitionLog.objects.bulk_create(rows, batch_size=5000)
    alerts = []
    for asset in rng.sample(assets, min(25, len(assets))):
        opened = start + timedelta(hours=rng.uniform(0, 24 * (HISTORY_DAYS - 2)))
        alerts.append(
            Alert(
                kind="missing",
                asset=asset,
                message=f"{asset.asset_tag} not seen (demo history)",
                created_at=opened,
                status="resolved",
                auto_resolved=True,
                resolved_at=opened + timedelta(hours=rng.uniform(2, 40)),
            )
        )
    Alert.objects.bulk_create(alerts)
    return len(rows)
