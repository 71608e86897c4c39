"""Raising, acknowledging and resolving alerts.

Lifecycle of an alert: new -> acknowledged -> resolved, or new -> resolved. A subject has at most
one open (new or acknowledged) alert of each kind: a partial unique index enforces it, and
``alert_raise`` is a get-or-create that survives two workers raising the same alert at once.
Alerts resolve themselves when their condition clears (``alerts_resolve_cleared``); a person can
also resolve one, and if the condition still holds the next check opens a new alert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from assets.models import Asset, Tag
from config.i18n import source_text
from declarations.tag_ids import TagIdError, normalize_tag_id
from lifecycle.alerts import selectors
from lifecycle.alerts.choices import AlertKind, AlertStatus
from lifecycle.alerts.models import Alert, ParLevel
from lifecycle.alerts.signals import alerts_auto_resolved
from lifecycle.biomed.selectors import asset_open_loan, asset_schedule_blockers
from lifecycle.exceptions import LifecycleError
from lifecycle.selectors import asset_open_recall_work_orders
from locations.live import notify_floor
from locations.models import Receiver
from locations.signals import RoomChange, TagReport

logger = logging.getLogger(__name__)

SUBJECT_MODELS = {"asset": Asset, "tag": Tag, "par_level": ParLevel, "receiver": Receiver}


class AlertError(LifecycleError):
    """An alert change its status does not allow (acknowledging a resolved alert), or bad alert input."""

    code = "alert_invalid"


# --- notifications -----------------------------------------------------------------------------------


def alert_event(alert: Alert) -> dict:
    """What the floor map receives (locations.live): {"kind": "alert", ...}."""
    field_name = AlertKind(alert.kind).subject_field
    return {
        "kind": "alert",
        "id": alert.pk,
        "alert_kind": alert.kind,
        "alert_kind_label": source_text(AlertKind(alert.kind).label),
        "status": alert.status,
        "message": alert.message,
        "subject": {"type": field_name, "id": getattr(alert, f"{field_name}_id"), "label": str(alert.subject)},
        "created_at": alert.created_at.isoformat(),
    }


def _notify_on_commit(alerts: Iterable[Alert]) -> None:
    """Push each alert to the maps of the floors it concerns, once the transaction has committed."""
    events = [(selectors.alert_floor_ids(alert), alert_event(alert)) for alert in alerts]
    events = [(floors, event) for floors, event in events if floors]
    if not events:
        return

    def send():
        for floors, event in events:
            for floor_id in floors:
                notify_floor(floor_id, event)

    transaction.on_commit(send)


# --- raise, acknowledge, resolve ---------------------------------------------------------------------


def _subject_filter(kind: AlertKind, subject: models.Model) -> dict:
    field_name = kind.subject_field
    model = SUBJECT_MODELS[field_name]
    if not isinstance(subject, model) or subject.pk is None:
        raise AlertError(f"A {kind.value} alert is about a saved {model._meta.verbose_name}, not {subject!r}.")
    return {field_name: subject}


def _open_alert(kind: AlertKind, subject_filter: dict) -> Alert | None:
    return Alert.objects.open().filter(kind=kind, **subject_filter).first()


@transaction.atomic
def alert_raise(*, kind: str, subject: models.Model, message: str, now: datetime | None = None) -> tuple[Alert, bool]:
    """Open an alert of ``kind`` about ``subject``, unless one is already open. Returns (alert, created).

    Safe when several workers raise the same alert at once: the partial unique index lets one
    insert win; the others land on IntegrityError inside a savepoint and return the winner's alert.
    """
    try:
        kind = AlertKind(kind)
    except ValueError:
        raise AlertError(f"Unknown alert kind {kind!r}; valid kinds: {', '.join(AlertKind.values)}.") from None
    if not message or not message.strip():
        raise AlertError("An alert needs a message saying what is wrong.")
    subject_filter = _subject_filter(kind, subject)

    existing = _open_alert(kind, subject_filter)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():  # savepoint: a lost race must not poison the caller's transaction
            alert = Alert.objects.create(
                kind=kind, message=message.strip(), created_at=now or timezone.now(), **subject_filter
            )
    except IntegrityError:
        # Another worker opened the same alert between our look and our insert; theirs stands.
        existing = _open_alert(kind, subject_filter)
        if existing is None:
            raise  # not the one-open-alert rule: a real integrity problem
        return existing, False
    _notify_on_commit([alert])
    return alert, True


def _require_user(user) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise AlertError("Only a signed-in user can acknowledge or resolve an alert.")


def _who_resolved(alert: Alert) -> str:
    when = timezone.localtime(alert.resolved_at).strftime("%Y-%m-%d %H:%M")
    if alert.auto_resolved:
        return f"automatically at {when} when its condition cleared"
    return f"by {alert.resolved_by_label} at {when}"


@transaction.atomic
def alert_acknowledge(*, alert: Alert, user) -> Alert:
    """Someone has seen the alert and is dealing with it. Refused for an acknowledged or resolved alert."""
    _require_user(user)
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.status == AlertStatus.RESOLVED:
        raise AlertError(f"Alert #{locked.pk} was already resolved {_who_resolved(locked)}; it cannot be acknowledged.")
    if locked.status == AlertStatus.ACKNOWLEDGED:
        when = timezone.localtime(locked.acknowledged_at).strftime("%Y-%m-%d %H:%M")
        raise AlertError(f"Alert #{locked.pk} was already acknowledged by {locked.acknowledged_by} at {when}.")
    locked.status = AlertStatus.ACKNOWLEDGED
    locked.acknowledged_by = user
    locked.acknowledged_at = timezone.now()
    locked.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    return locked


@transaction.atomic
def alert_resolve(*, alert: Alert, user) -> Alert:
    """A person closes the alert. If its condition still holds, the next check raises a new one."""
    _require_user(user)
    locked = Alert.objects.select_for_update().get(pk=alert.pk)
    if locked.status == AlertStatus.RESOLVED:
        raise AlertError(f"Alert #{locked.pk} was already resolved {_who_resolved(locked)}.")
    locked.status = AlertStatus.RESOLVED
    locked.resolved_by = user
    locked.resolved_at = timezone.now()
    locked.auto_resolved = False
    locked.save(update_fields=["status", "resolved_by", "resolved_at", "auto_resolved"])
    _notify_on_commit([locked])
    return locked


@transaction.atomic
def alerts_resolve_cleared(
    *,
    kind: str,
    still_active: models.QuerySet | Iterable[int],
    subject_ids: Iterable[int] | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """Resolve ("auto") the open alerts of ``kind`` whose subject is not in ``still_active``.

    ``still_active``: ids (or a ``values("pk")`` queryset) of the subjects whose condition holds now.
    ``subject_ids``: only look at alerts about these subjects (a signal handler's batch); all when None.
    """
    kind = AlertKind(kind)
    field_name = kind.subject_field
    cleared = Alert.objects.open().filter(kind=kind).exclude(**{f"{field_name}__in": still_active})
    if subject_ids is not None:
        cleared = cleared.filter(**{f"{field_name}__in": list(subject_ids)})
    # Lock first: an acknowledge running now either finishes before us or sees the alert resolved.
    ids = list(cleared.select_for_update().order_by("pk").values_list("pk", flat=True))
    if not ids:
        return []
    Alert.objects.filter(pk__in=ids).update(
        status=AlertStatus.RESOLVED, resolved_at=now or timezone.now(), resolved_by=None, auto_resolved=True
    )
    resolved = list(selectors.alerts_with_subjects().filter(pk__in=ids).order_by("pk"))
    alerts_auto_resolved.send(sender=Alert, alerts=resolved)  # a bulk UPDATE sends no post_save
    _notify_on_commit(resolved)
    return resolved


# --- the periodic check ------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "never"


def _asset_label(asset: Asset) -> str:
    return f"{asset.asset_tag} ({asset.asset_type.name})"


def _room_label(asset: Asset) -> str:
    return f"{asset.current_room.code} {asset.current_room.name}" if asset.current_room else "an unknown room"


def message_for(kind: AlertKind, subject, *, now: datetime) -> str:
    """The alert text staff read: what, where, since when, and the numbers behind it."""
    if kind == AlertKind.PAR_BELOW_CRITICAL:
        return (
            f"{subject.unit} has {subject.available_count} {subject.asset_type.name} available "
            f"(critical {subject.critical}, target {subject.target})."
        )
    if kind == AlertKind.MISSING:
        return f"{_asset_label(subject)} not seen since {_when(subject.last_seen)}, last in {_room_label(subject)}."
    if kind == AlertKind.LEFT_SITE:
        return f"{_asset_label(subject)} left through exit {_room_label(subject)} at {_when(subject.last_seen)}."
    if kind == AlertKind.LOW_BATTERY:
        on = f", on {subject.asset.asset_tag}" if subject.asset_id else ", not bound to an asset"
        return f"Tag {subject} battery at {subject.battery_percent}%{on}: replace the battery."
    if kind == AlertKind.PM_OVERDUE:
        reasons = asset_schedule_blockers(asset=subject, today=timezone.localdate(now))
        which = f": {'; '.join(reasons)}" if reasons else ""
        return f"{_asset_label(subject)} is overdue for maintenance{which}."
    if kind == AlertKind.RECALL_OPEN:
        recalls = sorted(
            {wo.recall.reference_number for wo in asset_open_recall_work_orders(asset=subject) if wo.recall}
        )
        which = f": {', '.join(recalls)}" if recalls else ""
        return f"{_asset_label(subject)} has an open recall{which}."
    if kind == AlertKind.LOAN_OVERDUE:
        loan = asset_open_loan(asset=subject)
        if loan is None:
            return f"{_asset_label(subject)} loan return is overdue."
        return (
            f"{_asset_label(subject)} lent to {loan.borrower} ({loan.get_kind_display().lower()}) was due back at "
            f"{_when(loan.expected_return)}."
        )
    if kind == AlertKind.SILENT_RECEIVER:
        return f"Receiver {subject.gateway_id} on {subject.floor} not heard since {_when(subject.last_heard)}."
    if kind == AlertKind.GATEWAY_CLOCK:
        ahead = "ahead of" if subject.clock_offset_s > 0 else "behind"
        return (
            f"Gateway {subject.gateway_id} on {subject.floor}: its clock is {abs(subject.clock_offset_s):.2f} s "
            f"{ahead} the other gateways (limit {settings.GATEWAY_CLOCK_ALERT_SECONDS:g} s). Locations are "
            "corrected for it; set up NTP on the gateway."
        )
    raise AlertError(f"no message for alert kind {kind!r}")


_SUBJECT_RELATIONS = {
    "asset": ["asset_type", "current_room"],
    "tag": ["asset__current_room"],
    "par_level": ["asset_type"],
    "receiver": ["floor__building"],
}


@dataclass
class CheckReport:
    raised: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)


def alert_kind_check(*, kind: str, now: datetime) -> CheckReport:
    """Raise an alert for each subject whose condition holds and has none open; resolve the cleared ones."""
    kind = AlertKind(kind)
    report = CheckReport()
    field_name = kind.subject_field
    with transaction.atomic():
        active = selectors.CONDITIONS[kind](now=now)
        already_open = Alert.objects.open().filter(kind=kind, **{f"{field_name}__isnull": False}).values(field_name)
        to_raise = active.exclude(pk__in=already_open).select_related(*_SUBJECT_RELATIONS[field_name]).order_by("pk")
        for subject in to_raise:
            alert, created = alert_raise(
                kind=kind, subject=subject, message=message_for(kind, subject, now=now), now=now
            )
            if created:
                report.raised.append(alert)
        report.resolved = alerts_resolve_cleared(kind=kind, still_active=active.values("pk"), now=now)
    return report


def alerts_check_all(*, now: datetime | None = None) -> CheckReport:
    """The periodic pass (``manage.py check_alerts``): every kind, one transaction per kind. Idempotent."""
    now = now or timezone.now()
    report = CheckReport()
    for kind in AlertKind:
        part = alert_kind_check(kind=kind, now=now)
        report.raised += part.raised
        report.resolved += part.resolved
    return report


# --- as the location pipeline reports ------------------------------------------------------------------


@transaction.atomic
def alerts_assets_seen(*, asset_ids: Iterable[int], now: datetime | None = None) -> list[Alert]:
    """Resolve the missing and left-site alerts of assets that were heard again.

    Reads the asset's committed last_seen and room (the pipeline writes them before it signals), and
    applies the same definitions as the periodic check. Entering an exit raises nothing by itself: the
    asset has left only if it is not heard again within the freshness window.
    """
    kinds = (AlertKind.MISSING, AlertKind.LEFT_SITE)
    # The pipeline reports every asset it hears, many thousands a flush; only the few with an open
    # missing or left-site alert can need anything, so look those up first (one indexed query).
    with_open_alert = set(Alert.objects.open().filter(kind__in=kinds).values_list("asset_id", flat=True))
    asset_ids = sorted(with_open_alert.intersection(asset_ids))
    if not asset_ids:
        return []
    now = now or timezone.now()
    resolved = []
    for kind in kinds:
        still = selectors.CONDITIONS[kind](now=now).filter(pk__in=asset_ids).values("pk")
        resolved += alerts_resolve_cleared(kind=kind, still_active=still, subject_ids=asset_ids, now=now)
    return resolved


def alerts_room_changes(*, changes: Iterable[RoomChange], now: datetime | None = None) -> list[Alert]:
    return alerts_assets_seen(asset_ids=[change.asset_id for change in changes], now=now)


@transaction.atomic
def alerts_tag_reports(*, reports: Iterable[TagReport], now: datetime | None = None) -> CheckReport:
    """Battery readings raise or resolve low-battery alerts; a heard asset clears missing/left-site."""
    reports = list(reports)
    now = now or timezone.now()
    report = CheckReport()
    report.resolved += alerts_assets_seen(asset_ids=[r.asset_id for r in reports if r.asset_id], now=now)

    readings = {}
    for r in reports:
        if r.battery_percent is None:
            continue
        try:
            readings[normalize_tag_id(r.tag_id)] = r.battery_percent
        except TagIdError:
            logger.warning("alerts: ignoring a tag report with a malformed tag id %r", r.tag_id)
    if not readings:
        return report
    # Only two kinds of tag need work: low now without an open alert (raise), and with an open alert
    # but no longer low (resolve). Both sets are small; the thousands of healthy tags cost nothing.
    open_alerts = dict(Alert.objects.open().filter(kind=AlertKind.LOW_BATTERY).values_list("tag__tag_id", "tag_id"))
    low_ids = {tag_id for tag_id, percent in readings.items() if selectors.tag_battery_is_low(percent)}
    for tag in Tag.objects.filter(tag_id__in=sorted(low_ids - open_alerts.keys())).select_related("asset"):
        tag.battery_percent = readings[tag.tag_id]  # the reading of this batch, whatever the row says
        alert, created = alert_raise(
            kind=AlertKind.LOW_BATTERY,
            subject=tag,
            message=message_for(AlertKind.LOW_BATTERY, tag, now=now),
            now=now,
        )
        if created:
            report.raised.append(alert)
    recovered = [pk for tag_id, pk in open_alerts.items() if tag_id in readings and tag_id not in low_ids]
    if recovered:
        report.resolved += alerts_resolve_cleared(
            kind=AlertKind.LOW_BATTERY, still_active=[], subject_ids=recovered, now=now
        )
    return report
