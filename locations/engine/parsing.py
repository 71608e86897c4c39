"""Validate one gateway batch (docs/design.md §5) into Sightings, item by item.

A body that is malformed as a whole raises BatchError (the HTTP 400 message). Inside a good
body each bad item is rejected on its own, with its index and a reason; the good items still
go through.
"""

from __future__ import annotations

import math
from collections.abc import Container
from datetime import datetime

from declarations.tag_ids import TagIdError, normalize_tag_id
from locations.engine.types import BatchError, BatchTooLarge, ParsedBatch, Rejection, Sighting

RSSI_MIN, RSSI_MAX = -120.0, 0.0
# Epoch milliseconds before 2000-01-01 are almost surely epoch *seconds* sent by mistake.
_EARLIEST_TS = 946_684_800.0

_tag_cache: dict[str, str] = {}
_TAG_CACHE_MAX = 200_000


def _tag(raw: object) -> str:
    if type(raw) is str:
        cached = _tag_cache.get(raw)
        if cached is not None:
            return cached
    tag_id = normalize_tag_id(raw)
    if len(_tag_cache) >= _TAG_CACHE_MAX:
        _tag_cache.clear()
    _tag_cache[raw] = tag_id  # type: ignore[index]
    return tag_id


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite(value: int | float) -> bool:
    """False for nan and ±inf, and for an integer beyond the float range (JSON allows any number of digits,
    and the decoders hand those over as Python ints, on which math.isfinite raises OverflowError)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def shown(value: object) -> str:
    """repr() for a reason, cut short: a number of 400 digits is not repeated back in full."""
    text = repr(value)
    return text if len(text) <= 32 else f"{text[:20]}..."


def not_finite_reason(field: str, value: object) -> str:
    return f"{field} {shown(value)} is not a finite number"


def gateway_problem(gateway: object) -> str | None:
    """Why a body's 'gateway' cannot name a receiver, or None. A lone surrogate (JSON "\\ud800") is not text:
    it could not be written to a log, a response or the database."""
    if not isinstance(gateway, str) or not gateway.strip():
        return f"'gateway' must be a non-empty string, got {shown(gateway)}"
    if not gateway.isascii():
        try:
            gateway.encode("utf-8")
        except UnicodeEncodeError:
            return "'gateway' is not valid Unicode text (it holds a lone UTF-16 surrogate)"
    return None


def check_batch_size(count: int, max_items: int | None) -> None:
    """BatchTooLarge when a batch has more than ``max_items`` items (None or 0: no limit)."""
    if max_items and count > max_items:
        raise BatchTooLarge(
            f"the batch has {count:,} items, more than {max_items:,} (INGEST_MAX_BATCH_ITEMS); send smaller batches"
        )


def parse_timestamp(value: object, *, field: str = "ts") -> float:
    """ISO 8601 with a zone, or epoch milliseconds, to epoch seconds. ValueError says what is wrong."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{field} {value!r} is not an ISO 8601 time") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{field} {value!r} has no time zone (add Z or +hh:mm)")
        seconds = moment.timestamp()
    elif _is_number(value):
        if not is_finite(value):  # type: ignore[arg-type]
            raise ValueError(not_finite_reason(field, value))
        seconds = float(value) / 1000.0  # type: ignore[arg-type]
    elif value is None:
        raise ValueError(f"{field} is missing")
    else:
        raise ValueError(f"{field} must be an ISO 8601 string or epoch milliseconds, got {type(value).__name__}")
    if seconds < _EARLIEST_TS:
        raise ValueError(f"{field} {value!r} is before the year 2000 (epoch seconds instead of milliseconds?)")
    # Microsecond precision, so that one instant written as ISO or as epoch ms is the same float.
    return round(seconds, 6)


def past_reason(raw_ts: object, ts: float, now: float, max_past_s: float) -> str:
    """Why a sighting stamped too far in the past is refused (both validators say it alike)."""
    age = now - ts
    age_text = f"{age / 86400:.0f} days" if age >= 2 * 86400 else f"{age:.0f} s"
    return (
        f"ts {shown(raw_ts)} is {age_text} in the past (at most {max_past_s:g} s; a gateway clock that was reset? "
        "replay old recordings with replay_sightings)"
    )


def parse_batch(
    body: object,
    *,
    known_gateways: Container[str],
    now: float,
    max_future_s: float = 60.0,
    max_past_s: float | None = None,
    max_items: int | None = None,
) -> ParsedBatch:
    """Validate a decoded JSON body: {"gateway", "sent_at", "sightings": [{"tag","rssi","ts","battery"}]}.

    `now` is the receiving side's clock (epoch seconds); items more than `max_future_s` ahead of it
    are rejected, and, when `max_past_s` is given (the live fronts), items more than that behind it.
    Items repeated in the batch (same gateway, tag and ts) count once. A batch of more than `max_items`
    items raises BatchTooLarge.
    """
    if not isinstance(body, dict):
        raise BatchError(f"body must be a JSON object, got {_json_type(body)}")
    gateway = body.get("gateway")
    if gateway is None:
        raise BatchError("'gateway' is missing")
    problem = gateway_problem(gateway)
    if problem is not None:
        raise BatchError(problem)
    if "sightings" not in body:
        raise BatchError("'sightings' is missing")
    items = body["sightings"]
    if not isinstance(items, list):
        raise BatchError(f"'sightings' must be a list, got {_json_type(items)}")
    check_batch_size(len(items), max_items)
    sent_at = None
    if body.get("sent_at") is not None:
        try:
            sent_at = parse_timestamp(body["sent_at"], field="sent_at")
        except ValueError as exc:
            raise BatchError(str(exc)) from None

    batch = ParsedBatch(gateway_id=gateway, sent_at=sent_at)
    if gateway not in known_gateways:
        reason = f"unknown gateway {gateway}"
        batch.rejected = [Rejection(index, reason) for index in range(len(items))]
        return batch

    latest = now + max_future_s
    earliest = -math.inf if max_past_s is None else now - max_past_s
    seen: set[tuple[str, float]] = set()
    accepted, rejected = batch.accepted, batch.rejected
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            rejected.append(Rejection(index, f"item must be an object, got {_json_type(item)}"))
            continue
        try:
            tag_id = _tag(item.get("tag")) if "tag" in item else None
        except TagIdError as exc:
            rejected.append(Rejection(index, str(exc)))
            continue
        if tag_id is None:
            rejected.append(Rejection(index, "tag is missing"))
            continue
        rssi = item.get("rssi")
        if rssi is None:
            rejected.append(Rejection(index, "rssi is missing"))
            continue
        if not _is_number(rssi):
            rejected.append(Rejection(index, f"rssi must be a number of dBm, got {shown(rssi)}"))
            continue
        if not is_finite(rssi):
            rejected.append(Rejection(index, not_finite_reason("rssi", rssi)))
            continue
        if not RSSI_MIN <= rssi <= RSSI_MAX:
            rejected.append(Rejection(index, f"rssi {shown(rssi)} is outside -120..0"))
            continue
        try:
            ts = parse_timestamp(item.get("ts"))
        except ValueError as exc:
            rejected.append(Rejection(index, str(exc)))
            continue
        if ts > latest:
            reason = f"ts {shown(item['ts'])} is {ts - now:.0f} s in the future (at most {max_future_s:g} s)"
            rejected.append(Rejection(index, reason))
            continue
        if ts < earliest:
            rejected.append(Rejection(index, past_reason(item["ts"], ts, now, max_past_s)))
            continue
        battery = item.get("battery")
        if battery is not None:
            if not _is_number(battery):
                rejected.append(Rejection(index, f"battery must be a percentage number, got {shown(battery)}"))
                continue
            if not is_finite(battery):
                rejected.append(Rejection(index, not_finite_reason("battery", battery)))
                continue
            if not 0 <= battery <= 100:
                rejected.append(Rejection(index, f"battery {shown(battery)} is outside 0..100"))
                continue
            battery = int(round(battery))
        key = (tag_id, ts)
        if key in seen:
            batch.duplicates += 1
            continue
        seen.add(key)
        accepted.append(Sighting(gateway, tag_id, float(rssi), ts, battery))
    return batch


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__
