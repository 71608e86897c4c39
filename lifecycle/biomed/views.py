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

from lifecycle.biomed import reports
from lifecycle.biomed.reports import HIGH, MISSES, OUTCOMES, Period, ReportError

PERMISSION = "biomed.view_scheduledwork"


def _require(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


def _period(request):
    return Period.parse(request.GET.get("start"), request.GET.get("end"))


def _safe(value):
    """Spreadsheets run a cell starting with = + - @ as a formula; a leading ' keeps it text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


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
        period = _period(request)
        type_id = request.GET.get("type")
        type_id = int(type_id) if type_id not in (None, "") else None
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
            risk=request.GET.get("risk") or None,
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
