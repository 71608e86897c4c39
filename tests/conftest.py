import os

import pytest

from tests.factories import UserFactory


def pytest_collection_modifyitems(config, items):
    """Tests marked `needs_redis` skip on the embedded default and run in CI, which sets REDIS_URL."""
    if os.environ.get("REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="REDIS_URL is not set (embedded default); CI runs this against real Redis")
    for item in items:
        if "needs_redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def nurse(db):
    return UserFactory(username="nurse", roles=["Nurse"])


@pytest.fixture
def dispatcher(db):
    return UserFactory(username="dispatch", roles=["Dispatch"])


@pytest.fixture
def biomed(db):
    return UserFactory(username="biomed", roles=["Clinical engineering"])


@pytest.fixture
def security_officer(db):
    return UserFactory(username="security", roles=["Security"])
