import json
import logging

import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _clean_counters():
    caches["default"].clear()  # throttle counters
    yield
    caches["default"].clear()


@pytest.fixture
def security_log(caplog):
    """The JSON security events logged during the test, as dicts (the logger does not propagate to root)."""
    logger = logging.getLogger("security")
    logger.addHandler(caplog.handler)

    def events(kind=None):
        found = [json.loads(r.getMessage()) for r in caplog.records if r.name == "security"]
        return [e for e in found if kind is None or e["event"] == kind]

    yield events
    logger.removeHandler(caplog.handler)
