"""API representations of schedules, scheduled work and loans (used by assets.api.serializers and views)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from lifecycle.biomed.models import IntervalUnit, LoanKind, ScheduleKind, WorkResult
from lifecycle.biomed.selectors import asset_open_loan, asset_schedules, schedule_blocker


class ScheduleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ScheduleKind.choices)
    name = serializers.CharField(help_text="The schedule's own name; empty for the kind's default schedule.")
    label = serializers.CharField()
    interval_value = serializers.IntegerField()
    interval_unit = serializers.ChoiceField(choices=IntervalUnit.choices)
    checklist = serializers.ListField(child=serializers.CharField())
    from_plan = serializers.BooleanField(help_text="Set by the type's or model's plan (not overridden on the asset).")
    active = serializers.BooleanField()
    last_done = serializers.DateField(allow_null=True, help_text="The last passing completion.")
    last_result = serializers.ChoiceField(choices=WorkResult.choices, allow_blank=True)
    last_result_on = serializers.DateField(allow_null=True)
    next_due = serializers.DateField(allow_null=True, help_text="Null: neither a completion nor in-service date.")
    overdue = serializers.BooleanField(help_text="Past due or failed: the asset is not serviceable.")
    blocker = serializers.CharField(allow_blank=True)


class PlannedMaintenanceSerializer(serializers.Serializer):
    next_due = serializers.DateField(allow_null=True, help_text="The earliest due date of the active schedules.")
    overdue = serializers.BooleanField(help_text="Any active schedule past due or failed.")
    schedules = ScheduleSerializer(many=True)


class LoanSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LoanKind.choices)
    borrower = serializers.CharField()
    lent_at = serializers.DateTimeField()
    expected_return = serializers.DateTimeField()
    overdue = serializers.BooleanField()
    rental_cost_per_day = serializers.DecimalField(max_digits=10, decimal_places=2, allow_null=True)
    text = serializers.CharField(help_text='What the map shows: "on loan (...) until 2026-12-24 17:00".')


def planned_maintenance_data(asset) -> dict:
    today = timezone.localdate()
    rows = []
    for schedule in asset_schedules(asset=asset):
        overdue = schedule.is_overdue(today) or schedule.failed
        rows.append(
            {
                "id": schedule.pk,
                "kind": schedule.kind,
                "name": schedule.name,
                "label": schedule.label,
                "interval_value": schedule.interval_value,
                "interval_unit": schedule.interval_unit,
                "checklist": schedule.checklist,
                "from_plan": schedule.plan_id is not None and not schedule.overrides_plan,
                "active": schedule.active,
                "last_done": schedule.last_done,
                "last_result": schedule.last_result,
                "last_result_on": schedule.last_result_on,
                "next_due": schedule.next_due,
                "overdue": overdue,
                "blocker": schedule_blocker(schedule, today) if overdue else "",
            }
        )
    dues = [r["next_due"] for r in rows if r["active"] and r["next_due"]]
    return {"next_due": min(dues) if dues else None, "overdue": any(r["overdue"] for r in rows), "schedules": rows}


def loan_data(asset) -> dict | None:
    loan = asset_open_loan(asset=asset)
    if loan is None:
        return None
    return {
        "id": loan.pk,
        "kind": loan.kind,
        "borrower": loan.borrower,
        "lent_at": loan.lent_at,
        "expected_return": loan.expected_return,
        "overdue": loan.is_overdue(),
        "rental_cost_per_day": loan.rental_cost_per_day,
        "text": loan.status_text,
    }
