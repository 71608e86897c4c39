"""The biomed admin pages: recording scheduled work with its checklist, loans, and what a refused change looks
like (the form again with the service's reason: no success message, no admin log row, nothing saved)."""

from datetime import date, timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from declarations.states import AssetState
from lifecycle.alerts.models import ParLevel
from lifecycle.biomed.models import Loan, MaintenanceSchedule, ScheduledWork, SchedulePlan
from lifecycle.biomed.services import loan_return, loan_start, plan_save, work_orders_generate
from lifecycle.models import WorkOrder, WorkOrderStatus
from tests.lifecycle.helpers import located_asset

pytestmark = pytest.mark.django_db

STEPS = ["zero the scale", "test 1 kg", "test 5 kg"]


@pytest.fixture
def calibration(db):
    """Open calibration work with a three-step checklist, due 2026-12-01 (clock: 2026-11-25)."""
    asset = located_asset(in_service_date=date(2025, 12, 1))
    plan_save(
        plan=SchedulePlan(
            asset_type=asset.asset_type, kind="calibration", interval_value=12, interval_unit="months", checklist=STEPS
        )
    )
    [work_order] = [wo for wo in work_orders_generate(today=date(2026, 11, 20)).opened if wo.kind == "calibration"]
    return work_order.scheduled


def messages_of(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def refused(response, reason: str) -> None:
    """The form came back with ``reason`` as its error, and nothing was announced."""
    assert response.status_code == 200, response.status_code
    errors = " ".join(str(e) for e in response.context["adminform"].form.non_field_errors())
    assert reason in errors, errors
    assert reason in response.content.decode()
    assert not [m for m in messages_of(response) if "successfully" in m]


@freeze_time("2026-11-25 10:00")
def test_the_result_form_has_a_box_per_step_and_a_pass_needs_every_one(client, calibration, biomed_staff):
    client.force_login(biomed_staff)
    url = reverse("admin:biomed_scheduledwork_change", args=[calibration.pk])
    page = client.get(url)
    boxes = page.context["adminform"].form.fields["steps"].choices
    assert [label for _, label in boxes] == STEPS
    assert all(step in page.content.decode() for step in STEPS)

    response = client.post(url, {"outcome": "pass", "steps": [boxes[0][0]]})
    refused(response, "a pass needs every step ticked; not ticked: test 1 kg, test 5 kg")
    work = ScheduledWork.objects.get(pk=calibration.pk)
    assert (work.result, work.checklist_results, work.work_order.status) == ("", [], WorkOrderStatus.OPEN)
    assert not LogEntry.objects.exists()

    response = client.post(url, {"outcome": "pass", "steps": [value for value, _ in boxes]})
    assert response.status_code == 302
    work.refresh_from_db()
    assert work.result == "pass" and work.checklist_results == [{"step": s, "ok": True} for s in STEPS]
    assert LogEntry.objects.count() == 1


@freeze_time("2026-11-25 10:00")
def test_a_fail_records_each_answer_and_a_stale_checklist_is_refused(client, calibration, biomed_staff):
    client.force_login(biomed_staff)
    url = reverse("admin:biomed_scheduledwork_change", args=[calibration.pk])
    boxes = client.get(url).context["adminform"].form.fields["steps"].choices
    # The plan's second step changed since the page was opened: that tick is not for the new step.
    MaintenanceSchedule.objects.filter(pk=calibration.schedule_id).update(checklist=[STEPS[0], "test 2 kg", STEPS[2]])
    response = client.post(url, {"outcome": "pass", "steps": [value for value, _ in boxes]})
    assert (
        response.status_code == 200 and "the checklist changed since this page was opened" in response.content.decode()
    )
    assert ScheduledWork.objects.get(pk=calibration.pk).result == ""

    response = client.post(url, {"outcome": "fail", "steps": [boxes[0][0]], "notes": "drifts 8%"})
    assert response.status_code == 302
    work = ScheduledWork.objects.get(pk=calibration.pk)
    assert [(item["step"], item["ok"]) for item in work.checklist_results] == [
        ("zero the scale", True),
        ("test 2 kg", False),
        ("test 5 kg", False),
    ]
    assert work.work_order.asset.state == AssetState.BIOMED


@freeze_time("2026-11-25 10:00")
def test_a_refused_result_shows_the_reason_and_logs_nothing(client, calibration, biomed_staff):
    client.force_login(biomed_staff)
    url = reverse("admin:biomed_scheduledwork_change", args=[calibration.pk])
    ticks = [value for value, _ in client.get(url).context["adminform"].form.fields["steps"].choices]
    response = client.post(url, {"outcome": "pass", "steps": ticks, "performed_on": "2099-01-01", "miss_reason": "x"})
    refused(response, "performed on 2099-01-01 is in the future")
    assert response.context["adminform"].form["performed_on"].value() == "2099-01-01"  # what was typed stays
    work = ScheduledWork.objects.get(pk=calibration.pk)
    assert (work.result, work.work_order.status) == ("", WorkOrderStatus.OPEN)
    assert not LogEntry.objects.exists()
    # A miss reason typed without an outcome would be dropped silently: the form asks for the outcome.
    response = client.post(url, {"miss_reason": "device with a patient"})
    assert response.status_code == 200
    assert "choose the outcome" in response.content.decode()
    assert ScheduledWork.objects.get(pk=calibration.pk).miss_reason == ""


@freeze_time("2026-11-25 10:00")
def test_the_generic_work_order_page_refuses_to_close_scheduled_work_and_logs_nothing(
    client, calibration, biomed_staff
):
    client.force_login(biomed_staff)
    work_order = calibration.work_order
    response = client.post(
        reverse("admin:lifecycle_workorder_change", args=[work_order.pk]),
        {"technician": "", "status": WorkOrderStatus.DONE, "notes": work_order.notes},
    )
    refused(response, f"{work_order.reference} is scheduled maintenance: close it with its result")
    assert WorkOrder.objects.get(pk=work_order.pk).status == WorkOrderStatus.OPEN
    assert not LogEntry.objects.exists()


def loan_form(asset, expected_return, **extra):
    local = timezone.localtime(expected_return)
    return {
        "asset": asset.pk,
        "kind": "patient_home",
        "borrower": "MRN 0042, home care",
        "expected_return_0": local.date().isoformat(),
        "expected_return_1": local.strftime("%H:%M:%S"),
        "rental_cost_per_day": "",
        "note": "",
        **extra,
    }


def test_a_refused_loan_is_not_added_and_not_logged(client, biomed_staff):
    asset = located_asset(state=AssetState.IN_USE)
    client.force_login(biomed_staff)
    url = reverse("admin:biomed_loan_add")
    response = client.post(url, loan_form(asset, timezone.now() - timedelta(days=3)))
    refused(response, "the expected return must be after the start of the loan")
    assert "/admin/biomed/loan/None/" not in response.content.decode()
    assert not Loan.objects.exists() and not LogEntry.objects.exists()

    loan_start(
        asset=asset,
        kind="other_site",
        borrower="St Olav",
        expected_return=timezone.now() + timedelta(days=2),
        user=biomed_staff,
    )
    response = client.post(url, loan_form(asset, timezone.now() + timedelta(days=7)))
    refused(response, "is already on loan (another site, St Olav)")
    assert Loan.objects.count() == 1 and not LogEntry.objects.exists()

    # Extending a returned loan (returned meanwhile, on another page) is refused the same way.
    loan = Loan.objects.get()
    loan_return(loan=loan, user=biomed_staff)
    later = timezone.localtime(timezone.now() + timedelta(days=9))
    response = client.post(
        reverse("admin:biomed_loan_change", args=[loan.pk]),
        {"expected_return_0": later.date().isoformat(), "expected_return_1": later.strftime("%H:%M:%S"), "note": ""},
    )
    refused(response, "a returned loan cannot be extended")
    assert not LogEntry.objects.exists()

    # And an accepted one is added, announced and logged.
    other = located_asset()
    response = client.post(url, loan_form(other, timezone.now() + timedelta(days=7)))
    assert response.status_code == 302
    added = Loan.objects.get(asset=other)
    assert any("was added successfully" in m for m in messages_of(response))
    assert LogEntry.objects.get().object_id == str(added.pk)


def test_a_refused_schedule_change_is_not_logged(client, biomed_staff):
    asset = located_asset()
    client.force_login(biomed_staff)
    # The asset is decommissioned after the page was opened: the service says no.
    type(asset).objects.filter(pk=asset.pk).update(state=AssetState.DECOMMISSIONED)
    response = client.post(
        reverse("admin:biomed_maintenanceschedule_add"),
        {
            "asset": asset.pk,
            "kind": "calibration",
            "name": "",
            "interval_value": "6",
            "interval_unit": "months",
            "checklist": "[]",
            "lead_days": "14",
        },
    )
    refused(response, "is decommissioned; it has no more schedules")
    assert not MaintenanceSchedule.objects.filter(kind="calibration").exists() and not LogEntry.objects.exists()


def test_a_nul_in_a_list_filter_is_a_400_not_a_server_error(client, biomed_staff, calibration):
    ParLevel.objects.create(unit="4 West", asset_type=calibration.work_order.asset.asset_type, target=1, critical=0)
    client.force_login(biomed_staff)
    for name, params in [
        ("admin:alerts_parlevel_changelist", {"unit": "\x00"}),
        ("admin:alerts_parlevel_changelist", {"unit__exact": "4 West\x00"}),
        ("admin:alerts_alert_changelist", {"message": "\x00"}),
        ("admin:biomed_loan_changelist", {"borrower": "\x00"}),
        ("admin:biomed_scheduleplan_changelist", {"manufacturer": "\x00"}),
        ("admin:biomed_maintenanceschedule_changelist", {"name": "\x00"}),
        ("admin:biomed_scheduledwork_changelist", {"miss_reason": "\x00"}),
    ]:
        response = client.get(reverse(name), params)
        assert response.status_code == 400, (name, response.status_code)
        assert "contains a NUL character" in response.content.decode()
    assert client.get(reverse("admin:alerts_parlevel_changelist"), {"unit": "4 West"}).status_code == 200
