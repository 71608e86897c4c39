"""What each webhook event's ``data`` holds: plain JSON, no patient data (there is none in the system)."""

from __future__ import annotations

from config.i18n import source_state
from lifecycle.alerts.services import alert_event


def _iso(value):
    return value.isoformat() if value is not None else None


def _room(room) -> dict | None:
    if room is None:
        return None
    return {"id": room.pk, "code": room.code, "name": room.name, "unit": room.unit, "floor_id": room.floor_id}


def _user(user) -> str | None:
    return user.get_username() if user is not None else None


def transition_payload(entry) -> dict:
    asset = entry.asset
    return {
        "log_id": entry.pk,
        "asset": {"id": asset.pk, "asset_tag": asset.asset_tag, "asset_type_id": asset.asset_type_id},
        "transition": entry.transition,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "to_state_label": source_state(entry.to_state).label,
        "user": _user(entry.user),
        "source": entry.source,
        "note": entry.note,
        "room": _room(entry.room),
        "at": _iso(entry.at),
    }


def equipment_request_payload(equipment_request) -> dict:
    r = equipment_request
    asset = r.asset
    return {
        "id": r.pk,
        "status": r.status,
        "priority": r.priority,
        "asset_type": {"id": r.asset_type_id, "slug": r.asset_type.slug, "name": r.asset_type.name},
        "destination_room": _room(r.destination_room),
        "needed_by": _iso(r.needed_by),
        "note": r.note,
        "requested_by": _user(r.requested_by),
        "created_at": _iso(r.created_at),
        "asset": {"id": asset.pk, "asset_tag": asset.asset_tag} if asset is not None else None,
        "assigned_by": _user(r.assigned_by),
        "assigned_at": _iso(r.assigned_at),
        "delivered_by": _user(r.delivered_by),
        "delivered_at": _iso(r.delivered_at),
        "cancelled_by": _user(r.cancelled_by),
        "cancelled_at": _iso(r.cancelled_at),
        "cancel_reason": r.cancel_reason,
    }


def alert_payload(alert) -> dict:
    event = alert_event(alert)  # the same description the floor map receives
    event.pop("kind", None)
    return {
        **event,
        "acknowledged_by": _user(alert.acknowledged_by),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_by": _user(alert.resolved_by),
        "resolved_at": _iso(alert.resolved_at),
        "auto_resolved": alert.auto_resolved,
    }
