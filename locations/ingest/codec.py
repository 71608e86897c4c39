"""Validate-once ingest: typed decoding of gateway bodies, and the compact queue encoding.

Every front (HTTP, MQTT, ``replay_sightings``, ``simulate_rtls``) validates a gateway body here, ONCE,
with the settings' limits (``INGEST_MAX_FUTURE_SECONDS``); what comes out is a list of typed
``Sighting``s. The queue carries those, encoded with msgpack, and the engine worker hands them to the
pipeline (``LocationPipeline.ingest_sightings``) without parsing them again.

Why msgspec (``msgspec==0.23.0``):
- its JSON decoder builds typed ``Struct``s straight from the bytes, checking every field's JSON type in
  C (a bool is not a number, a list is not a string), several times faster than ``json.loads`` followed by
  ``isinstance`` checks per field; what is left in Python is the range checks, the tag id and the time;
- its msgpack encoder/decoder gives the queue a compact binary entry (about half the bytes of the JSON it
  replaces, and a third of the decode time), with the sightings stored column by column;
- one dependency for both, with no compiled dependency of its own. orjson would decode as fast but only
  into dicts, so every type check would stay in Python.

The typed decoder is the fast path. A body it cannot type (a wrong JSON type anywhere, a missing field)
is decoded generically and validated by ``parse_batch``, the engine's reference validator, so every
rejection keeps its exact reason ("rssi must be a number of dBm, got 'x'"). Both paths accept and reject
the same items (tests/locations/ingest/test_codec.py checks that on random bodies).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Container
from datetime import datetime

import msgspec
from django.conf import settings

from declarations.tag_ids import TagIdError, normalize_tag_id
from locations.engine.parsing import (
    RSSI_MAX,
    RSSI_MIN,
    check_batch_size,
    gateway_problem,
    is_finite,
    not_finite_reason,
    parse_batch,
    parse_timestamp,
    past_reason,
    shown,
)
from locations.engine.types import BatchError, ParsedBatch, Rejection, Sighting


class _Item(msgspec.Struct):
    tag: str
    rssi: int | float
    ts: str | int | float
    battery: int | float | None = None


class _Body(msgspec.Struct):
    gateway: str
    sightings: list[_Item]
    sent_at: str | int | float | None = None


_typed_json = msgspec.json.Decoder(_Body)
# float_hook: a float literal beyond the float range (1e400) becomes ±inf, so its item is rejected as not a
# finite number (the typed decoder refuses the whole body for it, and this one is its fallback).
_any_json = msgspec.json.Decoder(float_hook=float)
# NaN, Infinity and -Infinity are not JSON, but some gateway firmware writes them (as Python's json does).
_NON_FINITE = re.compile(r"(?<![\w.\"])-?(?:NaN|Infinity)(?![\w\"])")

# --------------------------------------------------------------------------- cached parsing

_tag_cache: dict[str, str] = {}
_minute_cache: dict[str, float] = {}
# Whole time stamps: every receiver in reach hears the same transmission, so one ts string comes in many
# gateway batches (about 6 to 17 times) within a second or two; a small cache answers all but the first.
_ts_cache: dict[str | int | float, float] = {}
_TS_CACHE_MAX = 100_000
_CACHE_MAX = 200_000
_EARLIEST_TS = 946_684_800.0


def normalized_tag(raw: str) -> str:
    tag = _tag_cache.get(raw)
    if tag is None:
        tag = normalize_tag_id(raw)
        if len(_tag_cache) >= _CACHE_MAX:
            _tag_cache.clear()
        _tag_cache[raw] = tag
    return tag


def timestamp(value: str | int | float, *, field: str = "ts") -> float:
    """``parse_timestamp`` with a cache for the usual ISO form ``YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00)``:
    the minute is parsed once and cached, the seconds are read as a number. Anything else (another zone,
    another shape) goes through ``parse_timestamp``, which also words the errors.

    Only minutes from 2000-01-01 on are cached: the fast paths (here and in ``_validate_typed_columns``) take
    a cached minute as checked, so a minute before the year 2000 must always go through ``parse_timestamp``."""
    if type(value) is str and len(value) == 24 and value[23] == "Z" and value[19] == "." and value[16] == ":":
        # The commonest shape by far: 2026-11-22T08:00:00.512Z (milliseconds, UTC).
        minute = _minute_cache.get(value[:16])
        if minute is not None and value[17:19].isdigit() and value[20:23].isdigit() and value[17] < "6":
            return round(minute + float(value[17:23]), 6)
    if type(value) is str and len(value) >= 20 and value[16] == ":" and value[10] == "T":
        if value[-1] == "Z":
            seconds = value[17:-1]
        elif value.endswith("+00:00"):
            seconds = value[17:-6]
        else:
            seconds = None
        if (
            seconds
            and seconds.isascii()
            and seconds[:2].isdigit()
            and (len(seconds) == 2 or (seconds[2] == "." and 3 < len(seconds) <= 9 and seconds[3:].isdigit()))
        ):
            second = float(seconds)
            minute = _minute_cache.get(value[:16])
            if minute is None and second < 60:
                try:
                    minute = datetime.fromisoformat(value[:16] + ":00+00:00").timestamp()
                except ValueError:
                    minute = None
                else:
                    if minute < _EARLIEST_TS:
                        minute = None  # never cached: parse_timestamp refuses it, every time
                    else:
                        if len(_minute_cache) >= _CACHE_MAX:
                            _minute_cache.clear()
                        _minute_cache[value[:16]] = minute
            if minute is not None and second < 60:
                return round(minute + second, 6)
    return parse_timestamp(value, field=field)


# --------------------------------------------------------------------------- validation


def _validate_typed(
    body: _Body, *, known_gateways: Container[str], now: float, max_future_s: float, max_past_s: float | None = None
) -> ParsedBatch:
    batch, tags, rssis, stamps, batteries = _validate_typed_columns(
        body, known_gateways=known_gateways, now=now, max_future_s=max_future_s, max_past_s=max_past_s
    )
    gateway = batch.gateway_id
    batch.accepted = [
        Sighting(gateway, tag_id, rssi, ts, battery)
        for tag_id, rssi, ts, battery in zip(tags, rssis, stamps, batteries, strict=True)
    ]
    return batch


def _validate_typed_columns(
    body: _Body, *, known_gateways: Container[str], now: float, max_future_s: float, max_past_s: float | None = None
) -> tuple[ParsedBatch, list[str], list[float], list[float], list[int | None]]:
    """The validation of a typed body (the one set of rules), its accepted sightings as columns: tag ids,
    rssi, ts, battery. ``batch.accepted`` is left empty (``_validate_typed`` fills it). ``max_past_s`` None:
    no limit into the past (replays of old recordings); the live fronts pass INGEST_MAX_PAST_SECONDS."""
    gateway = body.gateway
    problem = gateway_problem(gateway)
    if problem is not None:
        raise BatchError(problem)
    check_batch_size(len(body.sightings), settings.INGEST_MAX_BATCH_ITEMS)
    sent_at = None
    if body.sent_at is not None:
        try:
            sent_at = timestamp(body.sent_at, field="sent_at")
        except ValueError as exc:
            raise BatchError(str(exc)) from None
    batch = ParsedBatch(gateway_id=gateway, sent_at=sent_at)
    items = body.sightings
    tags: list[str] = []
    rssis: list[float] = []
    stamps: list[float] = []
    batteries: list[int | None] = []
    if gateway not in known_gateways:
        reason = f"unknown gateway {gateway}"
        batch.rejected = [Rejection(index, reason) for index in range(len(items))]
        return batch, tags, rssis, stamps, batteries
    latest = now + max_future_s
    earliest = -math.inf if max_past_s is None else now - max_past_s
    seen: set[tuple[str, float]] = set()
    rejected = batch.rejected
    tag_cache = _tag_cache
    ts_cache = _ts_cache
    if len(ts_cache) > _TS_CACHE_MAX:
        ts_cache.clear()
    minute_cache = _minute_cache
    for index, item in enumerate(items):
        raw_tag = item.tag
        tag_id = tag_cache.get(raw_tag)
        if tag_id is None:
            try:
                tag_id = normalized_tag(raw_tag)
            except TagIdError as exc:
                rejected.append(Rejection(index, str(exc)))
                continue
        rssi = item.rssi
        if not RSSI_MIN <= rssi <= RSSI_MAX:  # also false for nan
            if not is_finite(rssi):
                rejected.append(Rejection(index, not_finite_reason("rssi", rssi)))
            else:
                rejected.append(Rejection(index, f"rssi {shown(rssi)} is outside -120..0"))
            continue
        raw_ts = item.ts
        ts = ts_cache.get(raw_ts)
        if ts is None:
            # timestamp()'s commonest shape inline (2026-11-22T08:00:00.512Z, minute already parsed): the
            # same arithmetic, so the same float; anything else goes through timestamp().
            minute = None
            if (
                type(raw_ts) is str
                and len(raw_ts) == 24
                and raw_ts[23] == "Z"
                and raw_ts[19] == "."
                and raw_ts[16] == ":"
                and raw_ts[17] < "6"
                and raw_ts[17:19].isdigit()
                and raw_ts[20:23].isdigit()
            ):
                minute = minute_cache.get(raw_ts[:16])
            if minute is not None:
                ts = ts_cache[raw_ts] = round(minute + float(raw_ts[17:23]), 6)
            else:
                try:
                    ts = timestamp(raw_ts)
                except ValueError as exc:
                    rejected.append(Rejection(index, str(exc)))
                    continue
                if type(raw_ts) is not bool:
                    ts_cache[raw_ts] = ts
        if ts > latest:
            rejected.append(
                Rejection(index, f"ts {shown(item.ts)} is {ts - now:.0f} s in the future (at most {max_future_s:g} s)")
            )
            continue
        if ts < earliest:
            rejected.append(Rejection(index, past_reason(item.ts, ts, now, max_past_s)))
            continue
        battery = item.battery
        if battery is not None:
            if not 0 <= battery <= 100:
                if not is_finite(battery):
                    rejected.append(Rejection(index, not_finite_reason("battery", battery)))
                else:
                    rejected.append(Rejection(index, f"battery {shown(battery)} is outside 0..100"))
                continue
            battery = int(round(battery))
        key = (tag_id, ts)
        if key in seen:
            batch.duplicates += 1
            continue
        seen.add(key)
        tags.append(tag_id)
        rssis.append(float(rssi))
        stamps.append(ts)
        batteries.append(battery)
    return batch, tags, rssis, stamps, batteries


def validate_body(
    body: object,
    *,
    known_gateways: Container[str],
    now: float,
    max_future_s: float | None = None,
    max_past_s: float | None = None,
) -> ParsedBatch:
    """Validate one decoded gateway body (a dict from JSON). Raises BatchError when it is malformed as a
    whole; bad items are rejected one by one with a reason. ``max_future_s`` defaults to the setting;
    ``max_past_s`` to no limit (only the live fronts, whose ``now`` is the receiving clock, set one)."""
    if max_future_s is None:
        max_future_s = settings.INGEST_MAX_FUTURE_SECONDS
    if isinstance(body, dict) and type(body.get("gateway")) is str and type(body.get("sightings")) is list:
        try:
            typed = msgspec.convert(body, _Body, strict=True)
        except msgspec.ValidationError:
            typed = None
        if typed is not None:
            return _validate_typed(
                typed, known_gateways=known_gateways, now=now, max_future_s=max_future_s, max_past_s=max_past_s
            )
    return parse_batch(
        body,
        known_gateways=known_gateways,
        now=now,
        max_future_s=max_future_s,
        max_past_s=max_past_s,
        max_items=settings.INGEST_MAX_BATCH_ITEMS,
    )


def decode_body(raw: bytes | str) -> object:
    """JSON bytes -> a typed body when it has the canonical shape, else plain Python objects. THE decoder of
    every front (HTTP, MQTT, replay_sightings), so a body gets the same outcome, item for item, whichever
    way it came in.

    Raises ValueError (msgspec.DecodeError) for text that is not JSON, or not UTF-8, or holds a lone
    surrogate (RecursionError when nested too deeply). A number out of the float range (1e400, or an integer
    of 400 digits) and the non-JSON literals NaN, Infinity and -Infinity are decoded, so that the validators
    reject their item alone ("... is not a finite number"), not the whole batch."""
    try:
        return _typed_json.decode(raw)
    except msgspec.ValidationError:
        return decode_any(raw)
    except msgspec.DecodeError as exc:
        return _decode_non_finite(raw, exc)


def decode_any(raw: bytes | str) -> object:
    """``decode_body`` into plain Python objects only (vendor payloads, which adapters reshape)."""
    try:
        return _any_json.decode(raw)
    except msgspec.ValidationError:
        raise
    except msgspec.DecodeError as exc:
        return _decode_non_finite(raw, exc)


def _decode_non_finite(raw: bytes | str, error: msgspec.DecodeError) -> object:
    """The slow path for text msgspec refused: if it holds NaN or ±Infinity, json.loads reads it (nothing else
    it accepts and msgspec does not may pass: a lone surrogate is refused); otherwise msgspec's error."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise error from None
    if not _NON_FINITE.search(text):
        raise error
    try:
        value = json.loads(text)
    except ValueError:
        raise error from None
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise msgspec.DecodeError("JSON is malformed: a string holds a lone UTF-16 surrogate") from None
    return value


def validate_decoded(
    body: object,
    *,
    known_gateways: Container[str],
    now: float,
    max_future_s: float | None = None,
    max_past_s: float | None = None,
) -> ParsedBatch:
    """``validate_body`` for what ``decode_body`` returned (a typed body or plain objects)."""
    if max_future_s is None:
        max_future_s = settings.INGEST_MAX_FUTURE_SECONDS
    if isinstance(body, _Body):
        return _validate_typed(
            body, known_gateways=known_gateways, now=now, max_future_s=max_future_s, max_past_s=max_past_s
        )
    return validate_body(body, known_gateways=known_gateways, now=now, max_future_s=max_future_s, max_past_s=max_past_s)


def body_gateway(body: object) -> object:
    """The 'gateway' field of a decoded body (typed or not), None when there is none."""
    if isinstance(body, _Body):
        return body.gateway
    return body.get("gateway") if isinstance(body, dict) else None


def body_time(body: object) -> float | None:
    """A recorded body's own time: its sent_at, else its newest ts; None if it has neither (replay)."""
    if isinstance(body, _Body):
        if body.sent_at is not None:
            try:
                return timestamp(body.sent_at, field="sent_at")
            except ValueError:
                pass
        newest = None
        for item in body.sightings:
            try:
                ts = timestamp(item.ts)
            except ValueError:
                continue
            if newest is None or ts > newest:
                newest = ts
        return newest
    if not isinstance(body, dict):
        return None
    try:
        return parse_timestamp(body.get("sent_at"), field="sent_at")
    except ValueError:
        pass
    newest = None
    items = body.get("sightings")
    if isinstance(items, list):
        for item in items:
            try:
                ts = parse_timestamp(item.get("ts")) if isinstance(item, dict) else None
            except ValueError:
                continue
            if ts is not None and (newest is None or ts > newest):
                newest = ts
    return newest


def body_size(body: object) -> int:
    """How many items a decoded body holds (for counting sightings in a replay)."""
    if isinstance(body, _Body):
        return len(body.sightings)
    if isinstance(body, dict) and isinstance(body.get("sightings"), list):
        return len(body["sightings"])
    return 0


# --------------------------------------------------------------------------- the queue entry

_msgpack_encoder = msgspec.msgpack.Encoder()


class _Entry(msgspec.Struct, array_like=True):
    g: str  # gateway
    r: float  # received_at, epoch seconds (the front's clock)
    t: list[str]  # tag ids, normalised
    s: list[float]  # rssi
    ts: list[float]  # event time, epoch seconds
    b: list[int | None]  # battery


_entry_decoder = msgspec.msgpack.Decoder(_Entry)


def encode_entry(gateway_id: str, received_at: float, sightings) -> bytes:
    """Validated sightings of one gateway batch (one shard's part) -> a compact msgpack entry."""
    return _msgpack_encoder.encode(
        _Entry(
            gateway_id,
            received_at,
            [s.tag_id for s in sightings],
            [s.rssi for s in sightings],
            [s.ts for s in sightings],
            [s.battery for s in sightings],
        )
    )


def decode_entry(data: bytes) -> tuple[str, float, tuple[Sighting, ...]]:
    """The inverse of ``encode_entry``. Raises ValueError for anything else."""
    entry = _entry_decoder.decode(data)
    gateway = entry.g
    if not (len(entry.t) == len(entry.s) == len(entry.ts) == len(entry.b)):
        raise ValueError("columns of different lengths")
    sightings = tuple(
        Sighting(gateway, tag, rssi, ts, battery)
        for tag, rssi, ts, battery in zip(entry.t, entry.s, entry.ts, entry.b, strict=True)
    )
    return gateway, entry.r, sightings
