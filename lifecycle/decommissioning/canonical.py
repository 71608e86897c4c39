"""Canonical JSON and its SHA-256, so anyone can recompute a certificate's hash.

Canonical form: keys sorted, separators "," and ":" (no whitespace), non-ASCII kept as UTF-8,
no floats (times are ISO 8601 strings, numbers are integers). The hash is over the UTF-8 bytes.
"""

import hashlib
import json


def canonical_json(content: dict) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
