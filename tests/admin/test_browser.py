"""A biomed engineer's morning in the admin, in a real browser (Debian's chromium through Playwright).

Run on their own: ``DJANGO_ALLOW_ASYNC_UNSAFE=1 .venv/bin/pytest -m browser`` (make test-browser).

The demo hospital is loaded through seed_demo (the real imports), then brought to life the way the
location engine and the wards would: rooms and sightings on the assets, and transitions through the
lifecycle service. The engineer signs in, reads the dashboard, filters the asset list, starts cleaning a
soiled pump with a note, signs a decommissioning checklist and retires the device. Screenshots go to
test-artifacts/ (git-ignored); the asset list is copied to docs/screenshots/admin-assets.png
for the README only by `make docs-screenshots`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from binascii import unhexlify
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from django_otp.oath import TOTP
from playwright.sync_api import sync_playwright

from accounts.demo import demo_totp_key
from assets.models import Asset
from declarations.room_types import RoomType
from declarations.states import AssetState
from lifecycle.decommissioning import services as decommissioning
from lifecycle.decommissioning.models import DecommissioningCertificate, SignOff
from lifecycle.exceptions import LifecycleError
from lifecycle.models import TransitionLog
from lifecycle.services import asset_transition
from locations.models import Room
from tests.accessibility import check_page
from tests.lifecycle.decommissioning.conftest import complete

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
README_SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshots" / "admin-assets.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}
BIOMED_PASSWORD = "biomed-demo-2026"  # demo/README.md


def bring_the_demo_to_life():
    """Rooms and sightings as the location engine writes them, and a morning's transitions."""
    now = timezone.now()
    User = get_user_model()
    admin = User.objects.get(username="admin")
    rooms = list(Room.objects.exclude(room_type__in=[RoomType.EXIT, RoomType.CORRIDOR]).order_by("code"))
    assets = list(Asset.objects.select_related("asset_type").order_by("asset_tag"))
    for i, asset in enumerate(assets):
        asset.current_room = rooms[(i * 7) % len(rooms)]
        minutes = 1 + i % 6
        if i % 9 == 4:
            minutes = 95  # stale
        if i % 31 == 7:
            minutes = 60 * 30  # missing
        asset.last_seen = asset.located_at = now - timedelta(minutes=minutes)
    Asset.objects.bulk_update(assets, ["current_room", "last_seen", "located_at"])
    plans = {
        1: ["start_use"],
        2: ["start_use", "return"],
        3: ["send_to_biomed"],
        4: ["start_use", "return", "start_cleaning"],
        5: ["reserve"],
    }
    for i, asset in enumerate(assets[:120]):
        for name in plans.get(i % 8, []):
            try:
                asset_transition(
                    asset=asset, transition=name, user=admin, note="" if name != "send_to_biomed" else "alarm"
                )
            except LifecycleError:  # a guard said no (PM overdue, stale): the asset stays as it is
                break


@pytest.fixture
def demo_hospital(transactional_db):
    call_command("seed_demo", "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115  (tests run with DEBUG off)
    bring_the_demo_to_life()


def demo_code(username: str) -> str:
    """What the demo user's authenticator app shows now (seed_demo's published demo secret); no database."""
    totp = TOTP(unhexlify(demo_totp_key(username)))
    totp.time = time.time()
    return f"{totp.token():06d}"


def in_own_thread(function, *args):
    """Run ``function`` in a thread of its own. Playwright's sync API refuses a thread whose event loop
    is running, and other browser tests keep a session-wide Playwright in the main thread."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def biomeds_morning(base_url: str, soiled_tag: str, soiled_count: int, retiring_tag: str) -> list[str]:
    """Everything the browser does; returns the page errors it saw. No database access in here."""
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: dialog.accept())  # "Decommission ... for good?"

        # Sign in and read the dashboard.
        page.goto(f"{base_url}/admin/")
        page.wait_for_selector("#id_username")
        check_page(page, "admin-login")
        page.fill("#id_username", "biomed")
        page.fill("#id_password", BIOMED_PASSWORD)
        page.fill("#id_otp_code", demo_code("biomed"))  # the demo's authenticator (accounts/demo.py)
        page.click("input[type=submit]")
        page.wait_for_selector("#dashboard")
        assert page.inner_text("#tile-state-soiled .count") == str(soiled_count)
        check_page(page, "admin-dashboard")
        page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

        # The asset list, filtered from the dashboard's "Soiled" number.
        page.click("#tile-state-soiled")
        page.wait_for_url(re.compile(r"state__exact=soiled"))
        page.wait_for_selector("#result_list")
        assert page.locator("#result_list .state-badge.state-soiled").count() == min(soiled_count, 50)
        page.goto(f"{base_url}/admin/assets/asset/")
        page.wait_for_selector("#result_list .state-badge")
        page.click("#toggle-nav-sidebar")  # more room for the list; the admin remembers the choice
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "admin-assets.png"))
        check_page(page, "admin-asset-list")

        # A transition with a note: start cleaning the soiled pump.
        page.fill("#searchbar", soiled_tag)
        page.press("#searchbar", "Enter")
        page.click(f"#result_list a:text-is('{soiled_tag}')")
        page.wait_for_selector("#asset_form")
        check_page(page, "admin-asset-change-form")
        page.click("a.transition-start_cleaning")
        page.wait_for_selector("#transition-form")
        check_page(page, "admin-transition-form")
        page.fill("#id_note", "Washer 2, cycle B")
        page.click("#transition-form input[type=submit]")
        page.wait_for_selector(".messagelist .success")
        assert "Soiled → Cleaning" in page.inner_text(".messagelist")
        assert page.locator(".asset-actions h2").inner_text().startswith(f"{soiled_tag} is cleaning")

        # Sign the decommissioning checklist, as Clinical engineering (the only button biomed gets).
        page.goto(f"{base_url}/admin/decommissioning/decommissioningchecklist/?awaiting=me")
        page.click(f"#result_list a:text-is('{retiring_tag}')")
        page.wait_for_selector("a.sign-off-link")
        assert page.locator("a.sign-off-link").count() == 1
        page.click("a.sign-off-link:text('Sign off as Clinical engineering')")
        page.click("input[type=submit][value^='Sign off version']")
        page.wait_for_selector(".messagelist .success")
        assert page.locator("li.sign-off.valid").count() == 2
        check_page(page, "admin-decommissioning-checklist")
        page.screenshot(path=str(ARTIFACTS / "admin-decommission.png"), full_page=True)

        # Retire it: the certificate follows.
        page.click("#decommission-button")
        page.wait_for_url(re.compile(r"/decommissioning/certificates/"))
        check_page(page, "decommissioning-certificate")
        page.screenshot(path=str(ARTIFACTS / "admin-certificate.png"), full_page=True)
        browser.close()
    return errors


def test_biomed_runs_a_transition_signs_a_checklist_and_retires_a_device(demo_hospital, live_server):
    if not os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
        pytest.fail("browser tests need DJANGO_ALLOW_ASYNC_UNSAFE=1 (Playwright's sync API runs an event loop)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (browsers are never downloaded)")
    ARTIFACTS.mkdir(exist_ok=True)
    User = get_user_model()
    biomed, security = User.objects.get(username="biomed"), User.objects.get(username="security")
    soiled = Asset.objects.filter(state=AssetState.SOILED).order_by("asset_tag").first()
    soiled_count = Asset.objects.filter(state=AssetState.SOILED).count()
    retiring = Asset.objects.filter(state=AssetState.BIOMED).order_by("asset_tag").first()
    checklist = complete(decommissioning.checklist_open(asset=retiring, user=biomed), biomed)
    decommissioning.checklist_sign_off(checklist=checklist, user=security, role="security", version=checklist.version)

    errors = in_own_thread(biomeds_morning, live_server.url, soiled.asset_tag, soiled_count, retiring.asset_tag)

    assert not errors, errors
    if os.environ.get("REFRESH_SCREENSHOTS"):  # `make docs-screenshots`; a test run writes nothing tracked
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "admin-assets.png", README_SCREENSHOT)
    entry = TransitionLog.objects.filter(asset=soiled).latest("at")
    assert (entry.transition, entry.user, entry.note) == ("start_cleaning", biomed, "Washer 2, cycle B")
    assert SignOff.objects.filter(checklist=checklist, signed_by=biomed, role="clinical_engineering").exists()
    retiring.refresh_from_db()
    assert retiring.state == AssetState.DECOMMISSIONED
    assert DecommissioningCertificate.objects.filter(asset=retiring).exists()
