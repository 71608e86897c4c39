"""What an ASGI server process does once, after Django is set up and before it serves (config/asgi.py).

``freeze_startup_objects``: import every view through the URLconf, collect, then ``gc.freeze()`` the ~160,000
objects that make up the loaded program (modules, classes, functions, settings, the URL resolver). They live as
long as the process, and without this every full garbage collection walks them all again: requests promote
their short-lived objects into the oldest generation, which triggers a full collection every dozen or so
100-Device FHIR pages, and each one cost several times a whole request (docs/benchmarks.md, FHIR Device
search). Frozen objects are still freed by reference counting; only a reference cycle among them would never be
collected, and the program's own objects do not become garbage.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def freeze_startup_objects() -> int:
    """Load the URLconf (so the first request imports nothing), collect, freeze; returns how many were frozen."""
    get_resolver().url_patterns  # noqa: B018 - the property imports every view module
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
