import pytest
from django.utils import timezone

from tests.factories import AssetTypeFactory, FloorFactory, UserFactory


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def pump_type(db):
    return AssetTypeFactory(name="Infusion pump")


@pytest.fixture
def floor(db):
    return FloorFactory()


@pytest.fixture
def staff(db):
    return UserFactory(username="charge-nurse")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, is_superuser=True)
