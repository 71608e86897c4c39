"""Report pages in the admin: the accreditation report (screen, CSV, printable) and the rows behind each
figure. Thin: the figures come from lifecycle.biomed.reports. Access: staff with biomed.view_scheduledwork
(clinical engineering; biomed migration 0003)."""

from __future__ import annotations

import csv
import io

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from config.spreadsheet import safe_cell
from declarations.states import STATE_DEFINITIONS
from lifecycle.admin_mixins import nul_parameter
from lifecycle.biomed import charts, reports, utilisation
from lifecycle.biomed.reports import HIGH, MISSES, OTHER, OUTCOMES, Period, ReportError

PERMISSION = "biomed.view_scheduledwork"


def _require(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


def _period(request):
    return Period.parse(request.GET.get("start"), request.GET.get("end"))


def _safe(value):
    """Spreadsheets run a cell starting with = + - @ as a formula; a leading ' keeps it text. The one rule of every
    CSV export (config/spreadsheet.py): also after spaces, and the full-width ＝ ＋ － ＠."""
    return safe_cell(value)


def _rows_url(period: Period, **params) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    return f"{reverse('biomed-report-rows')}?{period.query}&{query}"


def _context(request, period: Period) -> dict:
    today = timezone.localdate()
    groups = reports.accreditation_groups(period=period, today=today)
    for group in groups:
        base = {"type": group.asset_type_id, "unit": group.unit, "risk": group.risk}
        group.links = {o: _rows_url(period, **base, outcome=o) for o in OUTCOMES}
        group.links["all"] = _rows_url(period, **base)
        group.links["misses"] = _rows_url(period, **base, outcome=",".join(MISSES))
    summary = [reports.totals(groups, HIGH), reports.totals(groups, "other"), reports.totals(groups)]
    for total in summary:
        risk = None if total.risk == "all" else total.risk
        total.links = {o: _rows_url(period, risk=risk, outcome=o) for o in OUTCOMES}
        total.links["all"] = _rows_url(period, risk=risk)
        total.links["misses"] = _rows_url(period, risk=risk, outcome=",".join(MISSES))
    high_misses = list(reports.accreditation_rows(period=period, today=today, risk=HIGH, outcomes=MISSES))
    for work in high_misses:
        work.reason = reports.miss_reason(work)
    return {
        **admin.site.each_context(request),
        "title": f"Accreditation report {period.start} to {period.end}",
        "period": period,
        "groups": groups,
        "summary": summary,
        "high_misses": high_misses,
        "not_located": list(reports.could_not_locate(period=period, today=today)[:500]),
        "rentals": reports.rental_days(period=period),
        "csv_url": f"{reverse('biomed-report')}?{period.query}&format=csv",
        "print_url": f"{reverse('biomed-report')}?{period.query}&print=1",
    }


def accreditation_report(request):
    _require(request)
    try:
        period = _period(request)
    except ReportError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    if request.GET.get("format") == "csv":
        return _csv(period)
    context = _context(request, period)
    template = "biomed/accreditation_print.html" if request.GET.get("print") else "biomed/accreditation.html"
    return TemplateResponse(request, template, context)


def _csv(period: Period) -> HttpResponse:
    today = timezone.localdate()
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["section", "asset_type", "unit", "risk", *OUTCOMES, "counted", "on_time_share", "detail"])
    groups = reports.accreditation_groups(period=period, today=today)
    for group in [*groups, reports.totals(groups, HIGH), reports.totals(groups, "other"), reports.totals(groups)]:
        share = "" if group.on_time_share is None else f"{group.on_time_share:.4f}"
        writer.writerow(
            _safe(v)
            for v in [
                "activities",
                group.asset_type,
                group.unit,
                group.risk,
                *(group.counts[o] for o in OUTCOMES),
                group.counted,
                share,
                "",
            ]
        )
    for work in reports.accreditation_rows(period=period, today=today, outcomes=MISSES):
        detail = (
            f"{work.work_order.reference} {work.work_order.asset.asset_tag} {work.schedule.label} due {work.due_date}"
        )
        writer.writerow(
            _safe(v)
            for v in [
                "miss",
                work.asset_type_name,
                work.unit,
                work.risk_group,
                *([""] * 7),
                f"{detail}: {work.outcome}: {reports.miss_reason(work)}",
            ]
        )
    for asset in reports.could_not_locate(period=period, today=today):
        room = asset.current_room.code if asset.current_room else "unknown"
        seen = timezone.localtime(asset.last_seen).isoformat() if asset.last_seen else "never"
        writer.writerow(
            _safe(v)
            for v in [
                "could_not_locate",
                asset.asset_type.name,
                asset.unit,
                asset.risk_group,
                *([""] * 7),
                f"{asset.asset_tag} last seen in {room} at {seen} ({asset.location_status})",
            ]
        )
    for line in reports.rental_days(period=period):
        writer.writerow(
            _safe(v)
            for v in [
                "rental",
                line.loan.asset.asset_type.name,
                line.loan.asset.unit,
                "",
                *([""] * 7),
                f"{line.loan.asset.asset_tag} {line.loan.borrower}: "
                f"{line.days} days x {line.loan.rental_cost_per_day} = {line.cost}",
            ]
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="accreditation-{period.start}-{period.end}.csv"'
    return response


def report_rows(request):
    """The activities behind one figure: ?start&end&type&unit&risk&outcome (comma-separated outcomes)."""
    _require(request)
    try:
        nul = nul_parameter(request.GET)
        if nul is not None:  # PostgreSQL text cannot hold one: no unit or risk group has it
            raise ReportError(f"{nul} contains a NUL character")
        period = _period(request)
        type_id = request.GET.get("type")
        type_id = int(type_id) if type_id not in (None, "") else None
        risk = request.GET.get("risk") or None
        if risk not in (None, HIGH, OTHER):
            raise ReportError(f"unknown risk group {risk!r}; valid: {HIGH}, {OTHER}")
        outcomes = tuple(o for o in (request.GET.get("outcome") or "").split(",") if o)
        unknown = [o for o in outcomes if o not in OUTCOMES]
        if unknown:
            raise ReportError(f"unknown outcome(s) {', '.join(unknown)}; valid: {', '.join(OUTCOMES)}")
    except (ReportError, ValueError) as exc:
        return HttpResponse(f"bad report filter: {exc}", status=400, content_type="text/plain; charset=utf-8")
    rows = list(
        reports.accreditation_rows(
            period=period,
            asset_type_id=type_id,
            unit=request.GET.get("unit"),
            risk=risk,
            outcomes=outcomes or None,
        )[:5000]
    )
    for work in rows:
        work.reason = reports.miss_reason(work) if work.outcome in MISSES else ""
    return TemplateResponse(
        request,
        "biomed/report_rows.html",
        {
            **admin.site.each_context(request),
            "title": f"Activities due {period.start} to {period.end}",
            "rows": rows,
            "period": period,
            "back_url": f"{reverse('biomed-report')}?{period.query}",
        },
    )


def _hours(seconds) -> float:
    return round((seconds or 0) / 3600, 1)


def utilisation_page(request):
    """Utilisation, turnaround, downtime, missing-hours (period, default the last 90 days), idle fleet and
    hoarding (now): server-side SVG charts (lifecycle.biomed.charts), a table, and CSV (&format=csv)."""

    _require(request)
    try:
        period = Period.parse(request.GET.get("start"), request.GET.get("end"), default_days=90)
        idle_days = int(request.GET.get("idle_days") or 7)
        if not 1 <= idle_days <= 365:
            raise ReportError("idle_days must be from 1 to 365")
    except (ReportError, ValueError) as exc:
        return HttpResponse(f"bad utilisation filter: {exc}", status=400, content_type="text/plain; charset=utf-8")
    rows = utilisation.utilisation(period=period)
    if request.GET.get("format") == "csv":
        return _utilisation_csv(period, rows)
    by_type: dict[str, utilisation.UtilisationRow] = {}
    for row in rows:  # the charts show one bar per asset type (the table has every unit)
        total = by_type.setdefault(row.asset_type, utilisation.UtilisationRow(row.asset_type_id, row.asset_type, ""))
        for state, seconds in row.seconds.items():
            total.seconds[state] = total.seconds.get(state, 0) + seconds
        total.missing_seconds += row.missing_seconds
    types = sorted(by_type.values(), key=lambda r: r.asset_type)
    turnaround = [(f"{r.asset_type} · {r.unit or '(no unit)'}", (r.turnaround_median_s or 0) / 3600) for r in rows]
    turnaround = sorted((t for t in turnaround if t[1]), key=lambda t: -t[1])[:25]
    context = {
        **admin.site.each_context(request),
        "title": f"Utilisation {period.start} to {period.end}",
        "period": period,
        "rows": rows,
        "states": list(STATE_DEFINITIONS.values()),
        "state_chart": charts.stacked_state_bars(
            [(r.asset_type, {s: r.share(s) for s in r.seconds}) for r in types], title="Share of time in each state"
        ),
        "use_chart": charts.value_bars(
            [(r.asset_type, 100 * (r.in_use_share or 0)) for r in types], title="In-use utilisation", unit="%"
        ),
        "downtime_chart": charts.value_bars(
            [(r.asset_type, _hours(r.downtime_seconds)) for r in types],
            title="Downtime (hours in biomed)",
            unit="h",
            colour="#b91c1c",
        ),
        "turnaround_chart": charts.value_bars(
            turnaround, title="Soiled to available turnaround, median (slowest 25)", unit="h", colour="#9a3412"
        ),
        "missing_chart": charts.value_bars(
            [(r.asset_type, _hours(r.missing_seconds)) for r in types],
            title="Missing-hours",
            unit="h",
            colour="#57606a",
        ),
        "idle": list(utilisation.idle_fleet(days=idle_days)[:300]),
        "idle_days": idle_days,
        "hoarding": list(utilisation.hoarding()),
        "csv_url": f"{reverse('biomed-utilisation')}?{period.query}&format=csv",
    }
    return TemplateResponse(request, "biomed/utilisation.html", context)


def _utilisation_csv(period: Period, rows) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    states = list(STATE_DEFINITIONS)
    writer.writerow(
        ["asset_type", "unit", *(f"{s}_seconds" for s in states), "in_use_share", "downtime_seconds", "turnarounds"]
        + ["turnaround_median_seconds", "turnaround_p90_seconds", "missing_seconds"]
    )
    for r in rows:
        writer.writerow(
            _safe(v)
            for v in [
                r.asset_type,
                r.unit,
                *(r.seconds.get(s, 0) for s in states),
                "" if r.in_use_share is None else f"{r.in_use_share:.4f}",
                r.downtime_seconds,
                r.turnarounds,
                "" if r.turnaround_median_s is None else round(r.turnaround_median_s),
                "" if r.turnaround_p90_s is None else round(r.turnaround_p90_s),
                r.missing_seconds,
            ]
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="utilisation-{period.start}-{period.end}.csv"'
    return response
