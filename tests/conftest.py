import importlib
import os
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import hashers
from django.core.cache import caches
from django.test.client import ClientMixin
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services import otp_required
from tests.factories import UserFactory
from tests.security_log import security_log  # noqa: F401 - the `security_log` fixture, for every test


def worker_redis_url(url: str, worker: str) -> str:
    """``redis://host:port/N`` for xdist worker ``gwK``: the database N + K, so parallel workers never share keys."""
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise pytest.UsageError(f"cannot give each xdist worker its own database of {url}: use redis://host:port/N")
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{base + int(worker.removeprefix('gw'))}"))


def pytest_configure(config):
    """Under pytest-xdist (the main call of `make test` runs `-n 2`), each worker gets its own test database from
    pytest-django (test_<name>_gw0, ...) and here its own Redis database: REDIS_URL's number plus the worker's
    index (redis://127.0.0.1:6379/0 -> /0 for gw0, /1 for gw1). Everything on Redis (the ingest streams and
    shard locks, the shared ingest cache: throttles, token revocations; the channel layer, which tests flush)
    stays per worker, and so does whatever a test starts in a subprocess, which inherits the environment.
    Django is already set up when conftests load, so the settings derived from these URLs are rewritten too."""
    # The tests check who may sign in, not how hard a stored hash is to crack: with Django's PBKDF2 (production
    # keeps it: config/settings.py sets no PASSWORD_HASHERS) every UserFactory user, demo account and form
    # sign-in costs about 0.2 s of CPU, some 40% of the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    hashers.get_hashers.cache_clear()
    hashers.get_hashers_by_algorithm.cache_clear()
    worker = getattr(config, "workerinput", {}).get("workerid")
    if not worker:
        return
    moved = {}  # shared URL -> this worker's
    for name in ("REDIS_URL", "INGEST_REDIS_URL"):
        url = os.environ.get(name)
        if url:
            os.environ[name] = moved[url] = worker_redis_url(url, worker)
    moved = {shared: own for shared, own in moved.items() if shared != own}  # gw0 on database 0 keeps it
    if not moved:
        return
    for name in ("REDIS_URL", "INGEST_REDIS_URL"):
        setattr(settings, name, moved.get(getattr(settings, name), getattr(settings, name)))
    for layer in settings.CHANNEL_LAYERS.values():
        if "hosts" in layer.get("CONFIG", {}):
            layer["CONFIG"]["hosts"] = [moved.get(host, host) for host in layer["CONFIG"]["hosts"]]
    for cache in settings.CACHES.values():
        if cache.get("LOCATION") in moved:
            cache["LOCATION"] = moved[cache["LOCATION"]]
    left = sorted(name for name in dir(settings) if name.isupper() and _mentions(getattr(settings, name), moved))
    if left:
        raise pytest.UsageError(f"settings still on the shared Redis database under xdist: {', '.join(left)}")


def _mentions(value, urls) -> bool:
    if isinstance(value, str):
        return value in urls
    if isinstance(value, dict):
        return any(_mentions(v, urls) for v in value.values())
    if isinstance(value, (list, tuple, set)):
        return any(_mentions(v, urls) for v in value)
    return False


def pytest_collection_modifyitems(config, items):
    """Tests marked `needs_redis` skip on the embedded default and run in CI, which sets REDIS_URL."""
    if os.environ.get("REDIS_URL"):
        return
    skip = pytest.mark.skip(reason="REDIS_URL is not set (embedded default); CI runs this against real Redis")
    for item in items:
        if "needs_redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_api_throttle_counters():
    """The API throttles (config/api.py) count in the default cache, a per-process memory cache that would
    carry one test's requests into the next, at whatever clock each test ran (frozen or not): every test
    starts with none. (The ingest cache is not cleared: it may be the real Redis, shared with the workers.)"""
    caches["default"].clear()


# Data the migrations seed, re-seeded after transactional tests' flushes: (module, function).
MIGRATION_SEEDS = [
    ("lifecycle.migrations.0001_roles", "create_role_groups"),
    ("lifecycle.migrations.0003_default_room_type_rules", "seed_rules"),
    ("lifecycle.migrations.0006_room_rules_only_take_availability_away", "deactivate_rules_that_give_availability"),
    ("lifecycle.migrations.0007_role_permissions_from_policy", "sync_role_permissions"),
]


@pytest.fixture(autouse=True)
def _migration_data_in_transactional_tests(request):
    """Transactional tests (two real connections, row locks) truncate every table when they end, the
    migrations' seed data included. Seed it again at their start, so each sees a migrated database."""
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" not in request.fixturenames and not (marker and marker.kwargs.get("transaction")):
        return
    request.getfixturevalue("transactional_db")
    for module, function in MIGRATION_SEEDS:
        getattr(importlib.import_module(module), function)(apps, None)


@pytest.fixture(autouse=True)
def _force_login_is_otp_verified(request, monkeypatch):
    """``client.force_login(user)`` stands for a complete sign-in: for users whose role needs two-factor
    sign-in (accounts.services.otp_required) it also marks the session verified by a TOTP device, as the
    real admin sign-in does. The two-factor tests themselves sign in through the form; a test marked
    ``otp_unverified`` gets Django's plain force_login."""
    if request.node.get_closest_marker("otp_unverified"):
        return

    plain = ClientMixin.force_login

    def force_login(self, user, backend=None):
        plain(self, user, backend)

        if not otp_required(user):
            return

        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test authenticator", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    monkeypatch.setattr(ClientMixin, "force_login", force_login)


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
