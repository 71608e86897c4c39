"""How a delivery is signed, and how a receiver checks it (docs/api.md shows the same in a few lines).

Header ``X-Webhook-Signature: t=<unix seconds>,v1=<hex>`` where hex = HMAC-SHA256(secret, "<t>.<body>").
The timestamp is signed too, so a receiver can refuse replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    *, secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> bool:
    """True when ``header`` is a valid signature of ``body`` made within ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)
