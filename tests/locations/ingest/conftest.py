import os
import uuid

import pytest

from locations import pipeline
from locations.ingest import auth, front, queue
from locations.ingest.queue import InMemoryQueue, RedisStreamQueue


@pytest.fixture(autouse=True)
def _isolated_ingest(settings):
    """Each test gets its own throttle counters, token/gateway caches and process-wide pipeline."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ingest": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": uuid.uuid4().hex},
    }
    settings.INGEST_IN_PROCESS_WORKER = False
    auth.forget_cached_credentials()
    front.gateway_directory.forget()
    pipeline.reset_pipeline()
    yield
    queue.set_queue(None)
    pipeline.reset_pipeline()


@pytest.fixture
def memory_queue():
    q = InMemoryQueue(shards=4)
    queue.set_queue(q)
    return q


@pytest.fixture
def redis_queue():
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("REDIS_URL is not set (embedded default); CI runs this against real Redis")
    q = RedisStreamQueue(url=url, prefix=f"test-ingest-{uuid.uuid4().hex[:8]}", shards=4, lock_ttl_ms=1500)
    queue.set_queue(q)
    yield q
    q.delete_all()
