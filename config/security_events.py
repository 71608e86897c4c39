"""The security event stream: one JSON object per line on the logger named ``security``.

Minimal version written by the secpolicy branch (refusals by the policy, issue 13); the secfix branch owns
this module and may extend it (sign-ins, lockouts, shipping to a SIEM: docs/operations.md). Signature and
logger name are the contract: ``security_event(kind, **fields)``.
"""

from __future__ import annotations

import json
import logging
import re

logger = logging.getLogger("security")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _clean(value):
    """Attacker-controlled strings (topics, tag ids, usernames) lose their control characters."""
    if isinstance(value, str):
        return _CONTROL.sub("?", value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return _clean(str(value))


def security_event(kind: str, **fields) -> None:
    logger.warning(json.dumps({"event": kind, **_clean(fields)}, sort_keys=True))
