"""The Spanish catalogues must be compiled (.mo) for these tests: `make install` builds them; a bare pytest run
builds them here when they are missing or older than their .po (GNU gettext's msgfmt, docs/translating.md)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils.translation import trans_real


def catalogues_are_stale() -> bool:
    for po in Path(settings.BASE_DIR, "locale").glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            return True
    return False


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogues():
    if not catalogues_are_stale():
        return
    # Parallel workers (pytest-xdist) each get here: one compiles while the other waits, then finds them fresh.
    lock = os.open(Path(settings.BASE_DIR, "locale"), os.O_RDONLY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if catalogues_are_stale():
            call_command("compilemessages", ignore_patterns=[".venv", "node_modules"], verbosity=0)
    finally:
        os.close(lock)
    trans_real._translations = {}  # drop any catalogue loaded before the .mo files existed
    trans_real._default = None
