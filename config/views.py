"""The landing page and the health check. Everything else lives in the apps."""

import asyncio
import hmac
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.shortcuts import render

from assets.selectors import asset_counts_by_type
from locations.ingest.queue import get_queue
from locations.models import Receiver
from locations.selectors import site_summaries

logger = logging.getLogger(__name__)


def home(request):
    return render(
        request,
        "home.html",
        {"sites": site_summaries(), "asset_types": asset_counts_by_type()},
    )


def healthz(request):
    """For load balancers and monitoring: 200 "ok" or "degraded" (channel layer down, ingest lagging),
    503 "error" when the database does not answer. docs/operations.md says what to alert on.

    Anonymous callers (a load balancer) learn only ``{"status": "ok"}`` or ``{"status": "not ok"}``
    (503). The detail (which part, queue lag, error class) needs the monitoring token
    (``Authorization: Bearer <HEALTHZ_TOKEN>``) or a staff session (issue 13 defect 6).
    """
    checks = {"database": _check_database(), "channel_layer": _check_channel_layer(), "ingest": _check_ingest()}
    if checks["database"] == "ok":
        checks["gateway_clocks"] = _check_gateway_clocks()
    if checks["database"] != "ok":
        status = "error"
    elif checks["channel_layer"] != "ok" or checks["ingest"].get("status") != "ok":
        status = "degraded"
    else:
        status = "ok"
    code = 503 if status == "error" else 200
    if not _may_see_health_detail(request):
        return JsonResponse({"status": "not ok" if status == "error" else "ok"}, status=code)
    return JsonResponse({"status": status, **checks}, status=code)


def _may_see_health_detail(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    expected = settings.HEALTHZ_TOKEN
    if not expected:
        return False
    scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected.encode())


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        logger.warning("healthz: database: %s", exc)
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _check_channel_layer() -> str:
    """A real round trip through the layer: what the floor maps depend on."""
    layer = get_channel_layer()
    if layer is None:
        return "not configured"

    async def round_trip():
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "healthz.probe"})
        return await asyncio.wait_for(layer.receive(channel), timeout=2.0)

    try:
        async_to_sync(round_trip)()
    except Exception as exc:  # any failure of the layer is a health answer, not a 500
        logger.warning("healthz: channel layer: %s", exc)
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _check_gateway_clocks() -> dict:
    """The engine's per-gateway clock estimates (informational: locations are corrected for them; the
    gateway_clock alert is what to act on)."""

    rows = list(
        Receiver.objects.filter(active=True, clock_offset_s__isnull=False).values_list("gateway_id", "clock_offset_s")
    )
    limit = settings.GATEWAY_CLOCK_ALERT_SECONDS
    off = sorted(gateway for gateway, offset in rows if abs(offset) > limit)
    worst = max((abs(offset) for _, offset in rows), default=None)
    return {
        "status": "ok" if not off else "skewed",
        "estimated": len(rows),
        "worst_offset_s": worst,
        "limit_s": limit,
        "off": off[:50],
    }


def _check_ingest() -> dict:
    """The sightings queue: how many entries wait and how old the oldest unprocessed one is."""
    try:
        lag = get_queue().lag()
    except Exception as exc:  # Redis down is a health answer, not a 500
        logger.warning("healthz: ingest queue: %s", exc)
        return {"status": f"error: {exc.__class__.__name__}"}
    info = lag.as_dict()
    info["status"] = "ok" if lag.oldest_age_s <= settings.INGEST_LAG_WARN_SECONDS else "lagging"
    return info
