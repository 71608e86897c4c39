"""The accreditation report: per type, unit and risk group, on-time share, misses with reasons, could not
locate, rental-days; period boundaries at local midnight (freezegun); every figure links to its rows."""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from freezegun import freeze_time

from lifecycle.biomed import reports
from lifecycle.biomed.models import Loan, MaintenanceSchedule, ScheduledWork
from lifecycle.biomed.reports import Period
from lifecycle.models import WorkOrder
from tests.factories import AssetFactory, AssetTypeFactory, RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

OSLO = ZoneInfo("Europe/Oslo")
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=OSLO)
PERIOD = Period(date(2026, 11, 1), date(2026, 11, 30))

# (tag, type, unit, risk, due date, outcome, performed_on, reason)
ACTIVITIES = [
    ("V-1", "Ventilator", "ICU", "high", date(2026, 10, 31), "on_time", date(2026, 10, 30), ""),  # before: out
    ("V-1", "Ventilator", "ICU", "high", date(2026, 11, 1), "on_time", date(2026, 11, 1), ""),  # first day
    ("V-2", "Ventilator", "ICU", "high", date(2026, 11, 10), "late", date(2026, 11, 12), "patient on it"),
    ("V-3", "Ventilator", "ICU", "high", date(2026, 11, 20), "overdue", None, ""),
    ("V-4", "Ventilator", "ICU", "high", date(2026, 11, 30), "pending", None, ""),  # last day, due today
    ("V-5", "Ventilator", "ICU", "high", date(2026, 12, 1), "pending", None, ""),  # after: out
    ("P-1", "Infusion pump", "4 West", "low", date(2026, 11, 5), "on_time", date(2026, 11, 5), ""),
    ("P-2", "Infusion pump", "4 West", "low", date(2026, 11, 6), "cancelled", None, "sent to vendor"),
    ("P-3", "Infusion pump", "5 East", "medium", date(2026, 11, 7), "on_time", date(2026, 11, 2), ""),
]


@pytest.fixture
def history(settings):
    settings.TIME_ZONE = "Europe/Oslo"
    user = UserFactory(username="tech")
    types = {name: AssetTypeFactory(name=name) for name in ("Ventilator", "Infusion pump")}
    room = RoomFactory(code="ICU-3", name="Bay 3")
    assets = {}
    for tag, type_name, unit, risk, due, outcome, performed, reason in ACTIVITIES:
        asset = assets.get(tag) or AssetFactory(
            asset_tag=tag, asset_type=types[type_name], unit=unit, risk_class=risk, current_room=room
        )
        assets[tag] = asset
        schedule = MaintenanceSchedule.objects.get(asset=asset, kind="pm")
        status = {"on_time": "done", "late": "done", "cancelled": "cancelled"}.get(outcome, "open")
        closed = timezone.make_aware(datetime(2026, 11, 15)) if status != "open" else None
        work_order = WorkOrder.objects.create(asset=asset, kind="pm", status=status, closed_at=closed, opened_by=user)
        ScheduledWork.objects.create(
            work_order=work_order,
            schedule=schedule,
            due_date=due,
            performed_on=performed,
            result="pass" if performed else "",
            miss_reason=reason,
        )
    # V-3 is overdue (no pass) and was last seen two days ago in ICU-3: on the could-not-locate list.
    MaintenanceSchedule.objects.filter(asset=assets["V-3"]).update(next_due=date(2026, 11, 20))
    type(assets["V-3"]).objects.filter(pk=assets["V-3"].pk).update(last_seen=NOW - timedelta(days=2))
    # A rental returned 30 minutes into the period (local time), and one still out.
    Loan.objects.create(
        asset=assets["P-1"],
        kind="rental_return",
        borrower="Acme",
        lent_at=datetime(2026, 10, 30, 0, 0, tzinfo=OSLO),
        expected_return=datetime(2026, 11, 5, tzinfo=OSLO),
        returned_at=datetime(2026, 11, 1, 0, 30, tzinfo=OSLO),
        rental_cost_per_day=Decimal("48.00"),
        lent_by=user,
    )
    Loan.objects.create(
        asset=assets["P-3"],
        kind="rental_return",
        borrower="Acme",
        lent_at=datetime(2026, 11, 29, 0, 0, tzinfo=OSLO),
        expected_return=datetime(2026, 12, 5, tzinfo=OSLO),
        rental_cost_per_day=Decimal("10.00"),
        lent_by=user,
    )
    return assets


def expected_groups():
    """Recomputed from the table above with plain counting (independent of the report's SQL)."""
    groups = {}
    for _, type_name, unit, risk, due, outcome, _, _ in ACTIVITIES:
        if not PERIOD.start <= due <= PERIOD.end:
            continue
        key = (type_name, unit, "high" if risk == "high" else "other")
        counts = groups.setdefault(key, dict.fromkeys(reports.OUTCOMES, 0))
        counts[outcome] += 1
    return groups


@freeze_time(NOW)
def test_figures_per_type_unit_and_risk_agree_with_a_plain_recount(history):
    groups = reports.accreditation_groups(period=PERIOD)
    assert {(g.asset_type, g.unit, g.risk): g.counts for g in groups} == expected_groups()
    high = reports.totals(groups, "high")
    assert (high.counted, high.counts["on_time"], high.misses) == (3, 1, 2)
    assert high.on_time_share == pytest.approx(1 / 3)
    other = reports.totals(groups, "other")
    assert (other.counted, other.counts["on_time"], other.on_time_share) == (3, 2, pytest.approx(2 / 3))


@freeze_time(NOW)
def test_period_boundaries_are_local_midnights(history):
    assert PERIOD.start_at == datetime(2026, 11, 1, tzinfo=OSLO)
    assert PERIOD.end_at == datetime(2026, 12, 1, tzinfo=OSLO)
    # A one-day period holds exactly the activities due that day.
    one_day = Period(date(2026, 11, 1), date(2026, 11, 1))
    assert [w.work_order.asset.asset_tag for w in reports.accreditation_rows(period=one_day)] == ["V-1"]
    # Rentals count to the second inside the period: 30 minutes of the first, 1.5 days of the open one.
    lines = {line.loan.asset.asset_tag: (line.days, line.cost) for line in reports.rental_days(period=PERIOD)}
    assert lines == {"P-1": (Decimal("0.02"), Decimal("1.00")), "P-3": (Decimal("1.50"), Decimal("15.00"))}
    # The default period: the last 30 days up to today (today in Oslo).
    assert Period.parse(None, None) == Period(date(2026, 11, 1), date(2026, 11, 30))
    with pytest.raises(reports.ReportError, match="start 2026-12-01 is after end 2026-11-30"):
        Period.parse("2026-12-01", "2026-11-30")
    with pytest.raises(reports.ReportError, match="end 'soon' is not a date"):
        Period.parse(None, "soon")


@freeze_time(NOW)
def test_high_risk_misses_are_listed_with_their_reason_and_devices_not_located(history):
    misses = reports.accreditation_rows(period=PERIOD, risk="high", outcomes=reports.MISSES)
    assert [(w.work_order.asset.asset_tag, w.outcome, reports.miss_reason(w)) for w in misses] == [
        ("V-2", "late", "patient on it"),
        ("V-3", "overdue", "not done: still open past its due date"),
    ]
    not_located = list(reports.could_not_locate(period=PERIOD))
    assert "V-3" in [a.asset_tag for a in not_located]
    v3 = next(a for a in not_located if a.asset_tag == "V-3")
    assert v3.current_room.code == "ICU-3" and v3.location_status == "missing"


@freeze_time(NOW)
def test_screen_csv_print_and_row_links(history, admin_client, client):
    url = f"/admin/biomed/reports/accreditation/?{PERIOD.query}"
    page = admin_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "patient on it" in html and "ICU-3 Bay 3" in html and "below 100%" in html
    # Every figure links to its rows: the high-risk "misses" link lists exactly V-2 and V-3.
    rows = admin_client.get(
        f"/admin/biomed/reports/accreditation/rows/?{PERIOD.query}&risk=high&outcome=late,cancelled,overdue"
    )
    assert rows.status_code == 200
    body = rows.content.decode()
    assert "V-2" in body and "V-3" in body and "V-1" not in body
    assert "/admin/biomed/reports/accreditation/rows/?start=2026-11-01&amp;end=2026-11-30&amp;risk=high" in html

    response = admin_client.get(url + "&format=csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    activities = {(r["asset_type"], r["unit"], r["risk"]): r for r in lines if r["section"] == "activities"}
    assert activities[("all", "all", "high")]["on_time_share"] == "0.3333"
    assert {r["section"] for r in lines} == {"activities", "miss", "could_not_locate", "rental"}
    assert admin_client.get(url + "&print=1").content.decode().startswith("<!doctype html>")
    assert admin_client.get("/admin/biomed/reports/accreditation/?start=2026-13-01").status_code == 400
    assert admin_client.get(f"{url}&outcome=lost", follow=False).status_code == 200
    bad = admin_client.get(f"/admin/biomed/reports/accreditation/rows/?{PERIOD.query}&outcome=lost")
    assert bad.status_code == 400 and "unknown outcome(s) lost" in bad.content.decode()
    # Not for anonymous visitors or staff without the permission.
    assert client.get(url).status_code == 302
    nurse = UserFactory(username="nurse-staff", is_staff=True)
    client.force_login(nurse)
    assert client.get(url).status_code == 403


@freeze_time(NOW)
def test_a_row_filter_with_a_nul_or_an_unknown_risk_group_is_a_400(history, admin_client):
    url = f"/admin/biomed/reports/accreditation/rows/?{PERIOD.query}"
    for params, message in [
        ("&unit=%00", "NUL character"),  # refused by the admin site for every page (accounts/admin_site.py)
        ("&unit=ICU%00", "NUL character"),
        ("&risk=%00", "NUL character"),
        ("&risk=medium", "unknown risk group 'medium'; valid: high, other"),
    ]:
        response = admin_client.get(url + params)
        assert response.status_code == 400, params
        assert message in response.content.decode()
    body = admin_client.get(url + "&unit=ICU&risk=high").content.decode()
    assert "V-2" in body and "P-1" not in body
