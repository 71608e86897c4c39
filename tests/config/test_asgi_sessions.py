"""A signed-in browser session on the ASGI server production runs: `daphne config.asgi:application`, started
here as its own process, as docs/operations.md runs it.

Why a real server and its own process: the browser tests (`-m browser`) run daphne in a thread of the test
process with DJANGO_ALLOW_ASYNC_UNSAFE=1 (Playwright's sync API needs it), which also switches off Django's
"no database query in the event loop" check inside the server. A database query in the server's event loop
(asgiref looking at a lazy ``request.user`` kept in a context variable, config/security_events.py) hung every
request that carried a session cookie, and no test saw it. Here nothing switches the check off, and the
server is the command production starts.

The server process reads the test database, so it needs one it can reach: PostgreSQL (CI and `make test`
with DATABASE_URL). SQLite's in-memory test database cannot be shared with another process: skipped there.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection

from tests.factories import AssetFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the server process must see the test's rows

PASSWORD = "nurse-test-password-2026"
# How long an answer may take: a bound for a loaded 2-core CI machine; a hung request never answers.
ANSWER_SECONDS = 10


def _database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daphne():
    """`daphne config.asgi:application` on a free port, on the test database; yields (port, process)."""
    if connection.vendor != "postgresql":
        pytest.skip("the server process needs a database it can reach (PostgreSQL); SQLite's test one is in memory")
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=_database_url())
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the check that found the bug stays on
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"daphne did not start:\n{process.communicate()[0].decode()[-3000:]}")
            time.sleep(0.2)
    yield port, process
    if process.poll() is None:
        process.kill()
    process.wait(10)


def request(port, method, path, *, cookies=None, body=None, headers=None):
    """One HTTP request; (status, headers, body). Raises TimeoutError when no answer comes in time."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_SECONDS)
    head = dict(headers or {})
    if cookies:
        head["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    try:
        conn.request(method, path, body=body, headers=head)
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def sign_in(port, username) -> dict:
    """The nurse's sign-in through /map/login/, as a browser does it: the session and CSRF cookies."""
    cookies = {}

    def keep(headers):
        for line in headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(line).items():
                cookies[name] = morsel.value

    status, headers, page = request(port, "GET", "/map/login/")
    assert status == 200
    keep(headers)
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    form = f"username={username}&password={PASSWORD}&csrfmiddlewaretoken={token}"
    status, headers, _ = request(
        port,
        "POST",
        "/map/login/",
        cookies=cookies,
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": f"http://127.0.0.1:{port}/map/login/"},
    )
    assert status == 302 and headers["Location"] == "/map/", (status, headers.get("Location"))
    keep(headers)
    assert settings.SESSION_COOKIE_NAME in cookies
    return cookies


def test_a_signed_in_session_gets_answers_from_daphne_and_the_server_stops_on_sigterm(daphne):
    port, process = daphne
    nurse = UserFactory(username="ward-nurse", roles=["Nurse"])
    # The server process keeps Django's default hasher (the suite's conftest swaps in a fast one for itself).
    nurse.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    nurse.save(update_fields=["password"])
    asset = AssetFactory()
    cookies = sign_in(port, "ward-nurse")

    for path, expect in [
        ("/map/", b"<html"),
        (f"/api/v1/assets/{asset.pk}/", asset.asset_tag.encode()),
        ("/api/v1/map/session/", b"expires_in"),
    ]:
        started = time.monotonic()
        try:
            status, _, body = request(port, "GET", path, cookies=cookies)
        except TimeoutError:
            pytest.fail(f"GET {path} with a signed-in session: no answer within {ANSWER_SECONDS} s")
        assert status == 200, (path, status, body[:300])
        assert expect in body, (path, body[:300])
        assert time.monotonic() - started < ANSWER_SECONDS

    # No request is left stuck in a thread: the server stops when told to, as systemd tells it.
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(ANSWER_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail("daphne did not exit on SIGTERM")
    log = process.stdout.read().decode()
    assert "SynchronousOnlyOperation" not in log, log[-3000:]
