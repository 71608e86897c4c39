"""Changes of the biomed programme: plans to schedules, work order generation, results, misses, loans.

Rules (docs/biomed.md):
- A schedule's due date is its last passing completion (before the first: the asset's in-service date)
  plus its interval. Pass: the next due date follows from the day the work was done. Fail: the asset
  goes to biomed and the schedule counts as overdue until a later pass.
- ``work_orders_generate`` (daily, management command ``generate_work_orders``) opens one work order per
  schedule that falls due within its lead days (or has failed) and has none open. Idempotent.
- A work order closed after its due date, or cancelled, needs a miss reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import DateField, F, Func, Q
from django.utils import timezone

from assets.models import Asset
from declarations.states import AssetState
from lifecycle.biomed.models import (
    Loan,
    LoanKind,
    MaintenanceSchedule,
    ScheduledWork,
    ScheduleKind,
    SchedulePlan,
    WorkResult,
)
from lifecycle.exceptions import LifecycleError, WorkOrderError
from lifecycle.history import record_changes, snapshot
from lifecycle.models import OPEN_WORK_ORDER_STATUSES, ChangeRecord, Source, WorkOrder, WorkOrderKind
from lifecycle.services import asset_send_to_biomed
from lifecycle.work_orders import work_order_run_transition


class ScheduleError(LifecycleError):
    status_code = 400
    code = "schedule_invalid"


class LoanError(LifecycleError):
    status_code = 400
    code = "loan_invalid"


WORK_ORDER_KIND = {
    ScheduleKind.PM: WorkOrderKind.PM,
    ScheduleKind.CALIBRATION: WorkOrderKind.CALIBRATION,
    ScheduleKind.ELECTRICAL_SAFETY: WorkOrderKind.ELECTRICAL_SAFETY,
    ScheduleKind.OTHER: WorkOrderKind.SCHEDULED,
}
_PLAN_VALUES = ("interval_value", "interval_unit", "checklist", "lead_days")


# Plans -> schedules ----------------------------------------------------------------------------------


def _plans_by_scope():
    by_type, by_model = defaultdict(dict), defaultdict(dict)
    for plan in SchedulePlan.objects.filter(active=True).order_by("pk"):
        key = (plan.kind, plan.name)
        if plan.asset_type_id:
            by_type[plan.asset_type_id][key] = plan
        else:
            by_model[(plan.manufacturer.strip().lower(), plan.model.strip().lower())][key] = plan
    return by_type, by_model


def schedules_materialise(*, asset_ids=None, batch_size: int = 2000) -> int:
    """Give assets in service the schedules of their type's and model's active plans (the model's plan wins),
    copy a changed plan's values onto the schedules that do not override it, retire schedules whose plan no
    longer applies, and recompute due dates. ``asset_ids=None``: every asset. Returns the rows written."""
    by_type, by_model = _plans_by_scope()
    assets = Asset.objects.exclude(state=AssetState.DECOMMISSIONED).order_by("pk")
    if asset_ids is not None:
        assets = assets.filter(pk__in=list(asset_ids))
    written = 0
    rows = assets.values_list("pk", "asset_type_id", "manufacturer", "model", "in_service_date")
    chunk: list = []
    for row in rows.iterator(chunk_size=batch_size):
        chunk.append(row)
        if len(chunk) >= batch_size:
            written += _materialise_chunk(chunk, by_type, by_model)
            chunk = []
    if chunk:
        written += _materialise_chunk(chunk, by_type, by_model)
    return written


def _materialise_chunk(chunk, by_type, by_model) -> int:
    existing = defaultdict(dict)
    for schedule in MaintenanceSchedule.objects.filter(asset_id__in=[r[0] for r in chunk]):
        existing[schedule.asset_id][(schedule.kind, schedule.name)] = schedule
    create, update = [], []
    for asset_id, type_id, manufacturer, model, in_service in chunk:
        plans = dict(by_type.get(type_id, {}))
        plans.update(by_model.get((manufacturer.strip().lower(), model.strip().lower()), {}))
        mine = existing.get(asset_id, {})
        for key, plan in plans.items():
            schedule = mine.get(key)
            if schedule is None:
                schedule = MaintenanceSchedule(
                    asset_id=asset_id,
                    plan=plan,
                    kind=plan.kind,
                    name=plan.name,
                    **{name: getattr(plan, name) for name in _PLAN_VALUES},
                )
                schedule.next_due = schedule.compute_next_due(in_service)
                create.append(schedule)
                continue
            changed = False
            if not schedule.overrides_plan:
                for name in (*_PLAN_VALUES, "plan_id"):
                    value = plan.pk if name == "plan_id" else getattr(plan, name)
                    if getattr(schedule, name) != value:
                        setattr(schedule, name, value)
                        changed = True
            if not schedule.active and not schedule.overrides_plan:
                schedule.active, changed = True, True
            due = schedule.compute_next_due(in_service)
            if due != schedule.next_due:
                schedule.next_due, changed = due, True
            if changed:
                update.append(schedule)
        for key, schedule in mine.items():
            if key in plans:
                continue
            due = schedule.compute_next_due(in_service)
            retire = schedule.active and not schedule.overrides_plan and schedule.plan_id is not None
            if retire or due != schedule.next_due:
                schedule.active = schedule.active and not retire
                schedule.next_due = due
                update.append(schedule)
    MaintenanceSchedule.objects.bulk_create(create, batch_size=2000)
    if update:
        MaintenanceSchedule.objects.bulk_update(
            update, [*_PLAN_VALUES, "plan", "active", "next_due", "updated_at"], batch_size=2000
        )
    return len(create) + len(update)


def plan_assets(plan: SchedulePlan):
    if plan.asset_type_id:
        return Asset.objects.filter(asset_type_id=plan.asset_type_id)
    return Asset.objects.filter(manufacturer__iexact=plan.manufacturer.strip(), model__iexact=plan.model.strip())


@transaction.atomic
def plan_save(*, plan: SchedulePlan, user=None) -> SchedulePlan:
    """Create or change a plan and bring the schedules of its assets in line."""
    plan.full_clean()
    before = {} if plan.pk is None else snapshot(SchedulePlan.objects.get(pk=plan.pk))
    previous_scope = None
    if plan.pk is not None:
        previous_scope = list(plan_assets(SchedulePlan.objects.get(pk=plan.pk)).values_list("pk", flat=True))
    plan.save()
    record_changes(instance=plan, user=user, before=before, after=snapshot(plan))
    ids = set(plan_assets(plan).values_list("pk", flat=True)) | set(previous_scope or [])
    schedules_materialise(asset_ids=ids)
    return plan


def _check_schedule_values(kind, name, interval_value, interval_unit, checklist):
    probe = MaintenanceSchedule(
        kind=kind, name=name, interval_value=interval_value, interval_unit=interval_unit, checklist=checklist or []
    )
    if kind not in ScheduleKind.values:
        raise ScheduleError(f"unknown schedule kind {kind!r}; valid: {', '.join(ScheduleKind.values)}")
    try:
        probe.clean()
    except Exception as exc:  # ValidationError: name the fields
        messages = getattr(exc, "message_dict", None) or {"schedule": [str(exc)]}
        raise ScheduleError("; ".join(f"{k}: {' '.join(v)}" for k, v in messages.items())) from None


@transaction.atomic
def schedule_set(
    *,
    asset: Asset,
    kind: str,
    name: str = "",
    interval_value: int | None = None,
    interval_unit: str | None = None,
    checklist: list[str] | None = None,
    lead_days: int | None = None,
    last_done: date | None = None,
    user=None,
) -> MaintenanceSchedule:
    """Set an asset's own schedule of ``kind``/``name``, or override its plan's interval or checklist.

    ``last_done`` records a passing completion done elsewhere (an import of the previous CMMS): it never moves
    backwards. Values left None keep the plan's."""
    locked = Asset.objects.select_for_update().get(pk=asset.pk)
    if locked.state == AssetState.DECOMMISSIONED:
        raise ScheduleError(f"{locked} is decommissioned; it has no more schedules")
    name = (name or "").strip()
    schedule = MaintenanceSchedule.objects.select_for_update().filter(asset=locked, kind=kind, name=name).first()
    before = {} if schedule is None else snapshot(schedule)
    if schedule is None:
        if interval_value is None:
            raise ScheduleError(f"{locked} has no {kind} schedule from a plan for its type or model: give the interval")
        schedule = MaintenanceSchedule(asset=locked, kind=kind, name=name, overrides_plan=True)
    if interval_value is not None or interval_unit is not None or checklist is not None or lead_days is not None:
        if interval_value is not None:
            schedule.interval_value = interval_value
        if interval_unit is not None:
            schedule.interval_unit = interval_unit
        if checklist is not None:
            schedule.checklist = checklist
        if lead_days is not None:
            schedule.lead_days = lead_days
        schedule.overrides_plan = True
    _check_schedule_values(
        schedule.kind, schedule.name, schedule.interval_value, schedule.interval_unit, schedule.checklist
    )
    if last_done is not None:
        if last_done > timezone.localdate():
            raise ScheduleError(f"last done {last_done} is in the future")
        if schedule.last_done is None or last_done > schedule.last_done:
            schedule.last_done = last_done
            schedule.last_result, schedule.last_result_on = WorkResult.PASS, last_done
    schedule.active = True
    schedule.next_due = schedule.compute_next_due(locked.in_service_date)
    schedule.save()
    record_changes(instance=schedule, user=user, before=before, after=snapshot(schedule))
    return schedule


@transaction.atomic
def schedule_revert_to_plan(*, schedule: MaintenanceSchedule, user=None) -> MaintenanceSchedule:
    schedule = MaintenanceSchedule.objects.select_for_update().get(pk=schedule.pk)
    before = snapshot(schedule)
    schedule.overrides_plan = False
    schedule.save(update_fields=["overrides_plan", "updated_at"])
    schedules_materialise(asset_ids=[schedule.asset_id])
    schedule.refresh_from_db()
    record_changes(instance=schedule, user=user, before=before, after=snapshot(schedule))
    return schedule


# Work orders ---------------------------------------------------------------------------------------


@dataclass
class GenerateResult:
    opened: list[WorkOrder] = field(default_factory=list)
    already_open: int = 0


def _work_order_notes(schedule: MaintenanceSchedule, due: date) -> str:
    steps = "\n".join(f"- [ ] {step}" for step in schedule.checklist)
    return f"{schedule.label} due {due:%Y-%m-%d} ({schedule.interval_label})." + (f"\n{steps}" if steps else "")


class _DateMinusDays(Func):
    """``date - integer days``, as a date, in SQL. PostgreSQL: ``date - integer`` is a date. SQLite stores a
    date as 'YYYY-MM-DD' text, where ``-`` would subtract from the year (and an integer sorts before any text,
    so every schedule looked due): its ``date(d, '-N days')`` does the calendar arithmetic instead."""

    arity = 2
    output_field = DateField()

    def as_sql(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="(%(expressions)s)", arg_joiner=" - ", **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection, template="date(%(expressions)s || ' days')", arg_joiner=", '-' || ", **extra_context
        )


def _due_within_lead(today: date) -> Q:
    """Failed, or ``next_due - lead_days <= today``."""
    opens_on = _DateMinusDays(F("next_due"), F("lead_days"))
    return Q(last_result=WorkResult.FAIL) | Q(next_due__isnull=False) & Q(
        pk__in=MaintenanceSchedule.objects.alias(opens_on=opens_on).filter(opens_on__lte=today).values("pk")
    )


def work_orders_generate(*, today: date | None = None, user=None, batch_size: int = 500) -> GenerateResult:
    """Open a work order for each active schedule due within its lead days (or failed) that has none open.

    Safe to run twice, and while another run is going: each batch of schedule rows is locked (in primary-key
    order, so two runs cannot deadlock) before the open-work check, and the work orders of the batch are
    written with bulk inserts, each with its change-history row, in that transaction."""

    today = today or timezone.localdate()
    result = GenerateResult()
    open_work = ScheduledWork.objects.filter(work_order__status__in=OPEN_WORK_ORDER_STATUSES)
    candidates = (
        MaintenanceSchedule.objects.filter(active=True)
        .exclude(asset__state=AssetState.DECOMMISSIONED)
        .filter(_due_within_lead(today))
        .exclude(pk__in=open_work.values("schedule_id"))
    )
    result.already_open = (
        MaintenanceSchedule.objects.filter(active=True)
        .filter(_due_within_lead(today))
        .filter(pk__in=open_work.values("schedule_id"))
        .count()
    )
    ids = list(candidates.order_by("pk").values_list("pk", flat=True))
    work_order_type = ContentType.objects.get_for_model(WorkOrder)
    actor = user if user is not None and getattr(user, "is_authenticated", False) else None
    for offset in range(0, len(ids), batch_size):
        chunk = ids[offset : offset + batch_size]
        with transaction.atomic():
            locked = list(MaintenanceSchedule.objects.select_for_update().filter(pk__in=chunk).order_by("pk"))
            taken = set(open_work.filter(schedule_id__in=chunk).values_list("schedule_id", flat=True))
            todo = [s for s in locked if s.pk not in taken and s.active]
            result.already_open += len(locked) - len(todo)
            dues = []
            for schedule in todo:
                due = schedule.next_due if schedule.next_due is not None else today
                if schedule.last_result == WorkResult.FAIL:
                    due = min(due, today)
                dues.append(due)
            orders = WorkOrder.objects.bulk_create(
                [
                    WorkOrder(
                        asset_id=schedule.asset_id,
                        kind=WORK_ORDER_KIND[ScheduleKind(schedule.kind)],
                        opened_by=user,
                        notes=_work_order_notes(schedule, due),
                    )
                    for schedule, due in zip(todo, dues, strict=True)
                ]
            )
            ScheduledWork.objects.bulk_create(
                [
                    ScheduledWork(work_order=order, schedule=schedule, due_date=due)
                    for order, schedule, due in zip(orders, todo, dues, strict=True)
                ]
            )
            ChangeRecord.objects.bulk_create(
                [
                    ChangeRecord(
                        content_type=work_order_type,
                        object_id=str(order.pk),
                        object_repr=str(order.reference),
                        action=ChangeRecord.Action.CREATED,
                        user=actor,
                        changes={
                            "kind": {"from": None, "to": order.kind},
                            "status": {"from": None, "to": order.status},
                            "notes": {"from": None, "to": order.notes},
                        },
                    )
                    for order in orders
                ]
            )
            result.opened.extend(orders)
    return result


def _locked_scheduled_work(work_order: WorkOrder) -> tuple[WorkOrder, ScheduledWork]:
    locked = WorkOrder.objects.select_for_update().get(pk=work_order.pk)
    work = ScheduledWork.objects.select_related("schedule").filter(work_order=locked).first()
    if work is None:
        raise WorkOrderError(f"{locked.reference} is not scheduled maintenance work")
    if not locked.is_open:
        raise WorkOrderError(f"{locked.reference} is already {locked.status}; open a new work order instead")
    return locked, work


def _close(locked: WorkOrder, *, transition: str, user, notes: str) -> None:
    """Run the closing transition (``complete`` or ``cancel``, declarations.policy.WORK_ORDER_TRANSITIONS)."""
    before = snapshot(locked)
    work_order_run_transition(locked=locked, name=transition, user=user, at=timezone.now())
    if notes:
        locked.notes = f"{locked.notes}\n{notes}".strip()
    if locked.technician_id is None and user is not None and getattr(user, "is_authenticated", False):
        locked.technician = user
    locked.save()
    record_changes(instance=locked, user=user, before=before, after=snapshot(locked))


@transaction.atomic
def scheduled_work_complete(
    *,
    work_order: WorkOrder,
    user,
    result: str,
    performed_on: date | None = None,
    checklist_results: list | None = None,
    notes: str = "",
    miss_reason: str = "",
) -> ScheduledWork:
    """Close scheduled work with its result. Pass: the schedule's next due date follows from ``performed_on``.
    Fail: the asset goes to biomed (send_to_biomed, logged) and the schedule stays overdue until a pass.
    Done after the due date: ``miss_reason`` is required (the accreditation report lists it).

    ``checklist_results``: one answer (ticked or not) per step of the schedule's checklist, required when it
    has steps; a pass needs every step ticked.

    A result dated before the schedule's last result does not replace it (the later result stands): it is
    recorded on its work order, and a fail dated before a later pass does not send the asset to biomed. A pass
    dated before a recorded fail is refused: it cannot clear that fail (the retest is done after it)."""
    asset = Asset.objects.select_for_update().get(pk=work_order.asset_id)
    locked, work = _locked_scheduled_work(work_order)
    schedule = MaintenanceSchedule.objects.select_for_update().get(pk=work.schedule_id)
    if result not in WorkResult.values:
        raise WorkOrderError(f"result must be {' or '.join(WorkResult.values)}, not {result!r}")
    today = timezone.localdate()
    performed_on = performed_on or today
    if performed_on > today:
        raise WorkOrderError(f"performed on {performed_on} is in the future")
    miss_reason = (miss_reason or "").strip()
    if performed_on > work.due_date and not miss_reason:
        raise WorkOrderError(
            f"{locked.reference} was due on {work.due_date} and done on {performed_on}: give the reason it was late"
        )
    latest = schedule.last_result_on is None or performed_on >= schedule.last_result_on
    if result == WorkResult.PASS and schedule.last_result == WorkResult.FAIL and not latest:
        raise WorkOrderError(
            f"{locked.reference}: performed on {performed_on} is before the {schedule.label} that failed on "
            f"{schedule.last_result_on}; a pass cannot clear a later fail: give the day the work was really done"
        )
    steps = schedule.checklist
    if steps and checklist_results is None:
        raise WorkOrderError(
            f"{locked.reference}: the {schedule.label} checklist has {len(steps)} step(s); "
            "record one answer per step (checklist_results)"
        )
    if checklist_results is not None:
        if not isinstance(checklist_results, list) or len(checklist_results) != len(steps):
            raise WorkOrderError(f"checklist_results needs one answer per step ({len(steps)} steps)")
        checklist_results = [{"step": step, "ok": bool(ok)} for step, ok in zip(steps, checklist_results, strict=True)]
        if result == WorkResult.PASS and not all(item["ok"] for item in checklist_results):
            failed = [item["step"] for item in checklist_results if not item["ok"]]
            raise WorkOrderError(f"a pass needs every step ticked; not ticked: {', '.join(failed)}")
    _close(locked, transition="complete", user=user, notes=notes)

    work.result, work.performed_on, work.miss_reason = result, performed_on, miss_reason
    work.checklist_results = checklist_results or []
    work.save()
    before = snapshot(schedule)
    if result == WorkResult.PASS and (schedule.last_done is None or performed_on >= schedule.last_done):
        schedule.last_done = performed_on
    if latest:
        schedule.last_result, schedule.last_result_on = result, performed_on
    schedule.next_due = schedule.compute_next_due(asset.in_service_date)
    schedule.save()
    record_changes(instance=schedule, user=user, before=before, after=snapshot(schedule))

    if (
        result == WorkResult.FAIL
        and schedule.last_result == WorkResult.FAIL
        and asset.state not in (AssetState.BIOMED, AssetState.DECOMMISSIONED)
    ):
        asset_send_to_biomed(
            asset=asset,
            user=user,
            reason=f"{schedule.label} failed ({locked.reference})",
            source=Source.SYSTEM if user is None else Source.USER,
        )
    return work


@transaction.atomic
def scheduled_work_cancel(*, work_order: WorkOrder, user, reason: str) -> ScheduledWork:
    """Cancel scheduled work: a miss, always with its reason. The schedule's due date is unchanged."""
    Asset.objects.select_for_update().get(pk=work_order.asset_id)
    locked, work = _locked_scheduled_work(work_order)
    reason = (reason or "").strip()
    if not reason:
        raise WorkOrderError(f"cancelling {locked.reference} is a missed {work.schedule.label}: give the reason")
    _close(locked, transition="cancel", user=user, notes=f"Cancelled: {reason}")
    work.miss_reason = reason
    work.save(update_fields=["miss_reason"])
    return work


def work_order_closed_done(sender=None, *, work_order: WorkOrder, user, completed_on: date, **kwargs) -> None:
    """A PM/calibration/safety work order opened by hand (not from a schedule) and closed done: the asset's
    schedules of that kind count it as a pass on ``completed_on`` (lifecycle.signals.work_order_done)."""
    kinds = [kind for kind, wo_kind in WORK_ORDER_KIND.items() if wo_kind == work_order.kind]
    if not kinds:
        return
    for schedule in MaintenanceSchedule.objects.select_for_update().filter(
        asset_id=work_order.asset_id, kind__in=kinds, active=True
    ):
        before = snapshot(schedule)
        if schedule.last_done is None or completed_on > schedule.last_done:
            schedule.last_done = completed_on
        if schedule.last_result_on is None or completed_on >= schedule.last_result_on:
            schedule.last_result, schedule.last_result_on = WorkResult.PASS, completed_on
        asset = Asset.objects.only("in_service_date").get(pk=work_order.asset_id)
        schedule.next_due = schedule.compute_next_due(asset.in_service_date)
        schedule.save()
        record_changes(instance=schedule, user=user, before=before, after=snapshot(schedule))


# Loans ---------------------------------------------------------------------------------------------


@transaction.atomic
def loan_start(
    *,
    asset: Asset,
    kind: str,
    borrower: str,
    expected_return: datetime,
    user,
    rental_cost_per_day=None,
    note: str = "",
    at: datetime | None = None,
) -> Loan:
    """Lend an asset off site. Its lifecycle state does not change."""
    locked = Asset.objects.select_for_update().get(pk=asset.pk)
    if kind not in LoanKind.values:
        raise LoanError(f"unknown loan kind {kind!r}; valid: {', '.join(LoanKind.values)}")
    borrower = (borrower or "").strip()
    if not borrower:
        raise LoanError("a loan needs the borrower: to whom or where the device goes")
    if locked.state == AssetState.DECOMMISSIONED:
        raise LoanError(f"{locked} is decommissioned; it cannot be lent")
    at = at or timezone.now()
    if expected_return is None or expected_return <= at:
        raise LoanError("the expected return must be after the start of the loan")
    if rental_cost_per_day is not None and rental_cost_per_day < 0:
        raise LoanError("the rental cost per day cannot be negative")
    current = Loan.objects.filter(asset=locked, returned_at__isnull=True).first()
    if current is not None:
        raise LoanError(f"{locked} is already {current.status_text}; return it first")
    try:
        with transaction.atomic():
            loan = Loan.objects.create(
                asset=locked,
                kind=kind,
                borrower=borrower,
                expected_return=expected_return,
                rental_cost_per_day=rental_cost_per_day,
                note=note.strip(),
                lent_at=at,
                lent_by=user,
            )
    except IntegrityError:
        raise LoanError(f"{locked} was lent by someone else meanwhile; reload") from None
    record_changes(instance=loan, user=user, before={}, after=snapshot(loan))
    return loan


@transaction.atomic
def loan_return(*, loan: Loan, user, at: datetime | None = None) -> Loan:
    locked = Loan.objects.select_for_update().get(pk=loan.pk)
    if locked.returned_at is not None:
        raise LoanError(f"this loan of {locked.asset} was already returned")
    before = snapshot(locked)
    at = at or timezone.now()
    if at < locked.lent_at:
        raise LoanError("the return cannot be before the loan started")
    locked.returned_at, locked.returned_by = at, user
    locked.save(update_fields=["returned_at", "returned_by"])
    record_changes(instance=locked, user=user, before=before, after=snapshot(locked))
    return locked


@transaction.atomic
def loan_extend(*, loan: Loan, user, expected_return: datetime) -> Loan:
    locked = Loan.objects.select_for_update().get(pk=loan.pk)
    if locked.returned_at is not None:
        raise LoanError("a returned loan cannot be extended")
    if expected_return <= locked.lent_at:
        raise LoanError("the expected return must be after the start of the loan")
    before = snapshot(locked)
    locked.expected_return = expected_return
    locked.save(update_fields=["expected_return"])
    record_changes(instance=locked, user=user, before=before, after=snapshot(locked))
    return locked
