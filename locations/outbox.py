"""The location outbox: room changes and tag reports handed to the lifecycle work off the hot path.

The pipeline writes one ``LocationOutbox`` row in the transaction that commits the room changes
(``outbox_row``), tells the floor maps right after the commit, and wakes the consumer. The consumer lives
in the lifecycle app (``lifecycle.outbox``), which registers its drain function here when Django starts:
the dependency still points one way (lifecycle imports locations, never the reverse).

Who drains (setting ``LOCATION_OUTBOX_CONSUMER``):
- ``in-process`` (the embedded default: ``make demo``, the in-process engine worker): a daemon thread of
  the process that commits locations, woken after each commit and every second;
- ``command`` (production with Redis): ``manage.py consume_location_outbox``, one or more processes.
``replay_sightings`` drains what it wrote before it returns, in either mode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection

from locations.models import LocationOutbox

logger = logging.getLogger(__name__)

_consumers: list[Callable[..., int]] = []
_wake = threading.Event()
_thread: threading.Thread | None = None
_stop = threading.Event()
_lock = threading.Lock()


def register_consumer(drain: Callable[..., int]) -> None:
    """``drain(limit=N) -> rows applied``; called by the lifecycle app's ready()."""
    if drain not in _consumers:
        _consumers.append(drain)


def outbox_row(*, changes, reports, now: datetime):
    """The unsaved row for one commit (the pipeline saves it inside its transaction), or None."""

    if not changes and not reports:
        return None
    return LocationOutbox(
        created_at=now,
        room_changes=[[c.asset_id, c.from_room_id, c.to_room_id, c.at.isoformat()] for c in changes],
        tag_reports=[[r.tag_id, r.asset_id, r.battery_percent, r.at.isoformat()] for r in reports],
    )


def drain(*, limit: int = 1000) -> int:
    """Apply pending rows now, in this thread (replay, tests, the consumer loop). Returns rows applied."""
    applied = 0
    for consumer in list(_consumers):
        applied += consumer(limit=limit)
    return applied


def wake() -> None:
    """After a commit that wrote a row: the in-process consumer (if any) drains at once."""
    _wake.set()


def consumer_mode() -> str:
    return settings.LOCATION_OUTBOX_CONSUMER


def ensure_in_process_consumer() -> None:
    """Start the in-process consumer thread (embedded default), once per process."""
    global _thread
    if consumer_mode() != "in-process":
        return
    with _lock:
        if _thread is not None and _thread.is_alive():
            return
        _stop.clear()
        _thread = threading.Thread(target=_loop, name="location-outbox-consumer", daemon=True)
        _thread.start()


def stop_in_process_consumer(timeout_s: float = 5.0) -> None:
    global _thread
    with _lock:
        thread, _thread = _thread, None
    if thread is not None:
        _stop.set()
        _wake.set()
        thread.join(timeout_s)


def run_consumer(*, stop: threading.Event, poll_s: float = 1.0, on_applied=None) -> None:
    """The consumer loop (the thread and the management command): drain, then wait for a wake-up or
    ``poll_s``. A database error is logged and retried: the rows stay pending, nothing is lost."""

    while not stop.is_set():
        try:
            applied = drain()
        except DatabaseError:
            logger.exception("location outbox: database error; retrying")
            connection.close()
            applied = 0
        except Exception:  # a bug must not stop the consumer; the row stays pending
            logger.exception("location outbox: the consumer failed; retrying")
            applied = 0
        if applied and on_applied is not None:
            on_applied(applied)
        if not applied:
            _wake.wait(poll_s)
            _wake.clear()


def _loop() -> None:
    try:
        run_consumer(stop=_stop)
    finally:
        connection.close()
