"""BLE tag ids: MAC-like, any case, with or without separators, stored as 12 lowercase hex.

Plain Python with no Django import, so the location engine can use it too.
"""

import re
import zlib

_SEPARATORS = re.compile(r"[\s:\-.]")
_HEX12 = re.compile(r"^[0-9a-f]{12}$")


class TagIdError(ValueError):
    pass


def normalize_tag_id(value: object) -> str:
    """'C3:00:00:00:01:0A' -> 'c3000000010a'. Raises TagIdError naming the bad value."""
    if not isinstance(value, str):
        raise TagIdError(f"tag id must be a string, got {type(value).__name__}")
    cleaned = _SEPARATORS.sub("", value).lower()
    if not _HEX12.match(cleaned):
        raise TagIdError(f"tag id {value!r} is not 12 hexadecimal digits (like c3:00:00:00:01:0a)")
    return cleaned


def format_tag_id(tag_id: str) -> str:
    """'c3000000010a' -> 'c3:00:00:00:01:0a', for people."""
    return ":".join(tag_id[i : i + 2] for i in range(0, 12, 2))


def shard_of(tag_id: str, shards: int) -> int:
    """The shard of a (normalised) tag id: stable across processes, machines and restarts (CRC-32, never
    Python's ``hash()``). The ingest queue splits gateway batches by it, and the location engine follows
    each gateway's delivery per shard (``EngineConfig.delivery_streams``)."""
    return zlib.crc32(tag_id.encode("ascii")) % shards
