"""Property-based fuzzing of the whole API from its own OpenAPI schema, as each role.

For every operation in the schema, schemathesis generates valid and invalid requests (bounded:
FUZZ_EXAMPLES of each per operation, fixed seed) and the responses must be: never a 5xx, a status the
schema documents, the documented content type, and a body that conforms to the documented schema (errors
included: {code, message, field_errors}). Runs in-process through the WSGI app, so it sees the test database.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_token_issue
from lifecycle.alerts.models import ParLevel
from lifecycle.alerts.services import alert_raise
from lifecycle.requests.services import equipment_request_create
from tests.api.conftest import build_api_hospital
from tests.factories import ReceiverFactory, UserFactory

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
# Valid requests (schema-conformant data) and invalid ones (wrong types, missing fields, out-of-range values).
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = {
    "nurse": "Nurse",
    "dispatch": "Dispatch",
    "clinical_engineering": "Clinical engineering",
    "security": "Security",
}


@pytest.fixture
def some_data(db):
    """Enough of a hospital that list endpoints return real rows for the schema checks to look at."""
    hospital = build_api_hospital()
    nurse = UserFactory(username="fuzz-requester", roles=["Nurse"], password=None)
    for key in ("W401", "W402", "W201"):
        hospital.place(key)
    hospital.place("W409", seen_minutes_ago=30)
    equipment_request_create(user=nurse, asset_type=hospital.pump, destination_room=hospital.ward)
    ParLevel.objects.create(unit="4 West", asset_type=hospital.pump, target=3, critical=1)
    alert_raise(kind="missing", subject=hospital.place("W402"), message="not heard")
    ReceiverFactory(floor=hospital.ward.floor)
    return hospital


@pytest.fixture
def keep_the_test_connection():
    """Requests through the WSGI app end with close_old_connections, which would close the test's
    connection (and its transaction) on PostgreSQL; Django's own test client unhooks it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _fuzz(operations, headers, cookies=None) -> dict[int, int]:
    """Call each operation with valid and invalid data; every answer must pass CHECKS. Returns the statuses."""
    failures, statuses = [], {}
    for operation, mode in [(op, mode) for op in operations for mode in MODES]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def exercise(case):
            if cookies:
                case.cookies = {**(case.cookies or {}), **cookies}
            response = case.call(headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            case.validate_response(response, checks=CHECKS)

        try:
            exercise()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing to get wrong: no parameters and no body
        except Exception as exc:  # collect them all: one run shows every broken operation
            failures.append(f"{operation.method.upper()} {operation.path} ({mode.value} data): {exc}")
    assert not failures, "\n\n".join(failures)
    assert sum(statuses.values()) >= len(operations)  # every operation was really called
    return statuses


def _operations():
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    return [result.ok() for result in schema.get_all_operations()]


def _is_map(operation) -> bool:
    return "/map/" in operation.path


@pytest.fixture
def unthrottled(settings):
    settings.API_USER_THROTTLE_RATE = None  # the fuzzer is allowed to be fast
    settings.API_ANON_THROTTLE_RATE = None
    settings.WEBHOOK_DELIVERY = "worker"


@pytest.mark.usefixtures("keep_the_test_connection", "unthrottled")
@pytest.mark.parametrize("role", ["anonymous", *ROLES])
def test_no_input_makes_a_5xx_and_every_response_matches_the_schema(role, some_data):
    headers = {}
    if role != "anonymous":
        user = UserFactory(username=f"fuzz-{role}", roles=[ROLES[role]], password=None)
        headers = {"Authorization": f"Token {api_token_issue(user=user).raw}"}
    operations = _operations()
    # DELETE /auth/token/ would revoke the fuzzer's own token mid-run (tests/accounts/test_api_tokens.py has it).
    operations = [op for op in operations if not (op.method.lower() == "delete" and op.path.endswith("/auth/token/"))]
    assert len(operations) > 40
    statuses = _fuzz(operations, headers)
    if role != "anonymous":
        assert statuses.get(200, 0) > 0 and any(400 <= s < 500 for s in statuses), statuses
    print(role, dict(sorted(statuses.items())))


@pytest.mark.usefixtures("keep_the_test_connection", "unthrottled")
@pytest.mark.parametrize("role", ["nurse", "security"])
def test_the_maps_calls_with_a_signed_in_session_make_no_5xx_and_match_the_schema(role, some_data):
    """The floor map's calls take the page's session and its CSRF token, not an API token (floormap/api.py):
    fuzzed here the way the page calls them."""
    user = UserFactory(username=f"fuzz-map-{role}", roles=[ROLES[role]], password=None)
    browser = Client()
    browser.force_login(user)
    csrf = get_random_string(32)
    cookies = {
        settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: csrf,
    }
    operations = [op for op in _operations() if _is_map(op)]
    assert len(operations) >= 8
    statuses = _fuzz(operations, {"X-CSRFToken": csrf}, cookies)
    if role == "nurse":  # a map role: real answers, and bad input refused
        assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0, statuses
    else:  # Security works from the admin: refused, and never an answer with data
        assert statuses.get(403, 0) > 0 and not any(200 <= status < 300 for status in statuses), statuses
    print(role, dict(sorted(statuses.items())))
