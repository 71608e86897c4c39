"""What every ingest front does with one gateway body: validate it, then queue the good sightings.

The HTTP view and the MQTT worker both call ``accept_body``. Validation happens here and only here
(``codec.validate_body``, the rules of docs/design.md §5, with the settings' limits such as
``INGEST_MAX_FUTURE_SECONDS`` and ``INGEST_MAX_PAST_SECONDS``): a malformed body raises ``BatchError`` (HTTP
400), bad items are rejected one by one with a reason, repeats within the batch count once. The accepted
sightings go on the queue as typed values, split by tag shard; the engine worker does not validate them again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db.models.signals import post_delete, post_save

from locations.engine.types import Rejection
from locations.ingest.codec import validate_decoded
from locations.ingest.queue import get_queue
from locations.models import Receiver

# A 202 lists the reasons of at most this many rejected items (the first ones); rejected_count counts them all.
REJECTIONS_LISTED = 100


@dataclass(slots=True)
class FrontResult:
    gateway_id: str
    accepted: int
    rejected: list[Rejection]
    duplicates: int
    queued_entries: int

    def as_dict(self) -> dict:
        return {
            "gateway": self.gateway_id,
            "accepted": self.accepted,
            "rejected_count": len(self.rejected),
            "rejected": [{"index": r.index, "reason": r.reason} for r in self.rejected[:REJECTIONS_LISTED]],
            "duplicates": self.duplicates,
        }


class _GatewayDirectory:
    """Active receivers (gateway id -> site id), reloaded every INGEST_GATEWAY_CACHE_SECONDS, and at once
    when a receiver is saved in this process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sites: dict[str, int] = {}
        self._expires = -1.0

    def forget(self, **kwargs) -> None:
        with self._lock:
            self._expires = -1.0

    def sites(self) -> Mapping[str, int]:
        now = time.monotonic()
        with self._lock:
            if now < self._expires:
                return self._sites
        rows = Receiver.objects.filter(active=True).values_list("gateway_id", "floor__building__site_id")
        sites = dict(rows)
        with self._lock:
            self._sites = sites
            self._expires = now + settings.INGEST_GATEWAY_CACHE_SECONDS
        return sites


gateway_directory = _GatewayDirectory()
post_save.connect(gateway_directory.forget, sender=Receiver, dispatch_uid="ingest-gateways-save")
post_delete.connect(gateway_directory.forget, sender=Receiver, dispatch_uid="ingest-gateways-delete")


def accept_body(body: object, *, received_at: float | None = None, queue=None) -> FrontResult:
    """Validate one decoded gateway body and queue its good sightings. Raises BatchError for a malformed
    body and QueueUnavailable when the queue cannot take it (nothing was acknowledged to the gateway)."""

    received_at = time.time() if received_at is None else received_at
    queue = queue or get_queue()
    batch = validate_decoded(
        body,
        known_gateways=gateway_directory.sites(),
        now=received_at,
        max_future_s=settings.INGEST_MAX_FUTURE_SECONDS,
        # Only here, where `now` is the receiving clock: a replay of old recordings has no past limit.
        max_past_s=settings.INGEST_MAX_PAST_SECONDS,
    )
    entries = 0
    if batch.accepted:
        entries = queue.put(gateway_id=batch.gateway_id, sightings=batch.accepted, received_at=received_at)
        if queue.backend == "memory" and settings.INGEST_IN_PROCESS_WORKER:
            # Imported here: a web process loads the engine (numpy, shapely) only when it runs the embedded worker.
            from locations.ingest.worker import ensure_in_process_worker  # noqa: PLC0415 — see above

            ensure_in_process_worker(queue)
    return FrontResult(
        gateway_id=batch.gateway_id,
        accepted=len(batch.accepted),
        rejected=batch.rejected,
        duplicates=batch.duplicates,
        queued_entries=entries,
    )
