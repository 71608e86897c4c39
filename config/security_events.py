"""Security events: one JSON line per event on the ``security`` logger (docs/operations.md ships it to a SIEM).

    security_event("signin.failed", username="nurse", address="10.0.0.7", door="map")

Strings an attacker controls (usernames, topics, tag ids) have their control characters replaced, so a
crafted value cannot forge a second log line or hide in a terminal.
"""

from __future__ import annotations

import json
import logging
import re

from django.utils import timezone

logger = logging.getLogger("security")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean(value: str, limit: int = 200) -> str:
    """A string safe to log: control characters replaced by '?', cut to ``limit`` characters."""
    return _CONTROL.sub("?", str(value))[:limit]


def security_event(kind: str, **fields) -> None:
    record = {"event": kind, "at": timezone.now().isoformat()}
    for name, value in fields.items():
        record[name] = clean(value) if isinstance(value, str) else value
    logger.warning(json.dumps(record, default=str, sort_keys=True))
