import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _clean_counters():
    caches["default"].clear()  # throttle counters
    yield
    caches["default"].clear()
