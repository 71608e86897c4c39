"""The floor map in a real browser (Debian's chromium through Playwright), against a real ASGI server.

Run on their own: ``DJANGO_ALLOW_ASYNC_UNSAFE=1 .venv/bin/pytest -m browser`` (make test-browser).

The server is daphne, started in a thread of this process: it shares the test database (SQLite's
in-memory test database cannot be reached from a forked server process) and the in-memory channel
layer, so a change made through one page reaches the other page's WebSocket exactly as in production.
Screenshots go to test-artifacts/ (git-ignored); the desktop one is copied to docs/screenshots/ only by
`make docs-screenshots` (REFRESH_SCREENSHOTS=1).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from daphne.endpoints import build_endpoint_description_strings
from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from assets.models import Asset
from declarations.room_types import RoomType
from declarations.states import AssetState
from locations.live import notify_floor
from tests.accessibility import check_page
from tests.accounts.helpers import code_for, enrolled
from tests.factories import FloorFactory, RoomFactory, UserFactory, square
from tests.map.conftest import build_map_hospital

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
README_SCREENSHOT = Path(settings.BASE_DIR) / "docs" / "screenshots" / "map-desktop.png"
CHROMIUM = "/usr/bin/chromium"
# How long a page may take to show a change pushed to it: a bound for a loaded CI machine, not a budget.
LIVE_TIMEOUT_MS = 30_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 360, "height": 780}
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def asgi_server():
    """daphne serving config.asgi.application (HTTP, static files and WebSockets) on a free port."""
    if not os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
        pytest.fail("browser tests need DJANGO_ALLOW_ASYNC_UNSAFE=1 (Playwright's sync API runs an event loop)")
    from daphne.server import Server  # noqa: PLC0415 — installs the Twisted reactor: browser server only
    from twisted.internet import reactor  # noqa: PLC0415 — the one daphne.server installed

    from config.asgi import application  # noqa: PLC0415 — config.asgi gc-freezes what is loaded (config/startup.py)

    server = Server(
        application=ASGIStaticFilesHandler(application),
        endpoints=build_endpoint_description_strings(host="127.0.0.1", port=0),
        signal_handlers=False,
        verbosity=0,
    )
    ready = threading.Event()

    def wait_for_port():
        if server.listening_addresses:
            ready.set()
        else:
            reactor.callLater(0.05, wait_for_port)

    reactor.callLater(0.05, wait_for_port)
    thread = threading.Thread(target=server.run, name="daphne", daemon=True)
    thread.start()
    if not ready.wait(15):
        pytest.fail("daphne did not start listening within 15 s")
    host, port = server.listening_addresses[0]
    yield LiveServer(url=f"http://{host}:{port}", loop=reactor._asyncioEventloop)
    reactor.callFromThread(reactor.stop)
    thread.join(10)


@dataclass
class LiveServer:
    url: str
    loop: asyncio.AbstractEventLoop  # the server's event loop: its in-memory channel layer lives there

    def notify_floor(self, floor_id: int, event: dict) -> None:
        """locations.live.notify_floor, called from the server's side as the pipeline or the alerts would."""
        asyncio.run_coroutine_threadsafe(sync_to_async(notify_floor)(floor_id, event), self.loop).result(5)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (browsers are never downloaded)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(transactional_db, browser, asgi_server):
    """open_page(username, viewport=..., init_script=None, floor=None, **context_options) -> a signed-in page
    on /map/ in its own browser context (context_options: Playwright's, e.g. reduced_motion)."""
    contexts = []

    def make(username, *, viewport=DESKTOP, init_script=None, floor=None, clock=False, **context_options):
        context = browser.new_context(viewport=viewport, **context_options)
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        if clock:  # the page's clock runs on, and the test may move it forward (page.clock.fast_forward)
            context.clock.install()
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{asgi_server.url}/map/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")  # the header has the language picker's button
        page.wait_for_selector("body[data-floor-loaded]")
        if floor is not None:
            page.select_option("#floor-select", str(floor.pk))
            page.wait_for_selector(f'body[data-floor-loaded="{floor.pk}"]')
        return page

    errors: list[str] = []
    make.errors = errors
    yield make
    for context in contexts:
        context.close()
    # A poll the server was still answering must finish before the test database is flushed.
    time.sleep(0.3)
    assert not errors, f"JavaScript errors on the page: {errors}"


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)  # let popups finish fading in
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


def row_state(page, asset) -> str:
    """The state label in the list row (the badge's icon is decoration, hidden from screen readers)."""
    cell = page.locator(f'#asset-rows tr[data-asset-id="{asset.pk}"] td[data-label="State"] .state-badge')
    return cell.evaluate("el => el.lastChild.textContent").strip()


def test_a_nurse_finds_a_pump_highlights_it_uses_it_and_another_page_sees_it_live(open_page, asgi_server, settings):
    settings.MAP_POLL_SECONDS = 600  # pages opened now poll rarely: what they see comes over the WebSocket
    hospital = build_map_hospital()
    UserFactory(username="nurse-anna", roles=["Nurse"])
    UserFactory(username="nurse-ben", roles=["Nurse"])
    near = hospital.place("4N-401", asset_tag="IP-NEAR")  # 10 m from 4N-402
    hospital.place("4N-STORE", asset_tag="IP-STORE")  # 20 m
    hospital.place("3N-301", asset_tag="IP-DOWNSTAIRS")  # a floor away
    hospital.place("4N-NS", asset_tag="IP-STALE", seen_minutes_ago=45)
    hospital.place("4N-402", asset_tag="VS-1", asset_type=hospital.monitor)

    anna = open_page("nurse-anna")  # opens on the first floor (3 North): the pump she wants is upstairs
    assert anna.inner_text("#map-heading") == "North Tower · 3 North"

    # What do I need, where am I: typed, with the room remembered for next time.
    anna.fill("#search-what", "infusion pump")
    anna.fill("#search-where", "4N-402")
    anna.click("button:has-text('Find nearest')")
    anna.wait_for_selector(".result")
    results = anna.locator(".result-list .result")
    assert results.nth(0).inner_text().startswith("IP-NEAR Infusion pump")
    assert "10 m away" in results.nth(0).inner_text() and "last seen" in results.nth(0).inner_text()
    assert [results.nth(i).inner_text().split()[0] for i in range(results.count())] == [
        "IP-NEAR",  # 10 m, same floor
        "IP-STORE",  # 20 m, same floor
        "IP-DOWNSTAIRS",  # 10 m + a floor
        "IP-STALE",  # in the nurse station next door, but not seen for 45 minutes: last, and labelled
    ]
    stale = anna.locator(".stale-list .result")
    assert stale.count() == 1 and "Stale" in stale.inner_text() and "IP-STALE" in stale.inner_text()
    assert json.loads(anna.evaluate("localStorage.getItem('floormap.place')"))["label"].startswith("4N-402")

    # One click: the map switches to 4 North and highlights the pump, its popup open and focused.
    results.nth(0).click()
    anna.wait_for_selector(f'body[data-floor-loaded="{hospital.floors["floor4"].pk}"]')
    marker = anna.locator(f'.asset-marker.is-highlighted[data-asset-id="{near.pk}"]')
    marker.wait_for()
    assert anna.input_value("#floor-select") == str(hospital.floors["floor4"].pk)
    assert "IP-NEAR, Infusion pump, Available, in 4N-401" in marker.get_attribute("aria-label")
    assert anna.evaluate("document.activeElement.classList.contains('popup-title')")
    assert anna.inner_text(".asset-popup .popup-title").startswith("IP-NEAR")
    assert anna.inner_text("#asset-rows tr.is-highlighted td[data-label='Equipment']").startswith("IP-NEAR")
    screenshot(anna, "map-desktop.png")
    if os.environ.get("REFRESH_SCREENSHOTS"):  # `make docs-screenshots`; a test run writes nothing tracked
        README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / "map-desktop.png", README_SCREENSHOT)

    # A second nurse watches the same floor; a third page has WebSockets blocked and polls instead.
    ben = open_page("nurse-ben", floor=hospital.floors["floor4"])
    ben.wait_for_selector('body[data-live="live"]')
    settings.MAP_POLL_SECONDS = 1
    polling = open_page("nurse-ben", floor=hospital.floors["floor4"], init_script="window.WebSocket = undefined;")
    assert polling.get_attribute("body", "data-live") == "polling"
    assert "updating every 1 s" in polling.inner_text("#live-status")
    assert row_state(ben, near) == "Available" and row_state(polling, near) == "Available"

    # Anna starts using the pump from its popup; Ben's page shows it without a reload. Ben's page never
    # reloads, so the change can only come over its WebSocket; the generous timeout is for a loaded machine
    # (how fast it arrives is not this test's business).
    anna.click(".asset-popup button[data-action='start_use']")
    expect(ben.locator(f'.asset-marker[data-asset-id="{near.pk}"]')).to_have_attribute(
        "data-state", "in_use", timeout=LIVE_TIMEOUT_MS
    )
    assert row_state(ben, near) == "In use"
    assert "IP-NEAR is now In use." in anna.inner_text(".asset-popup .popup-message")
    assert Asset.objects.get(pk=near.pk).state == AssetState.IN_USE
    polling.wait_for_selector(f'#asset-rows tr[data-asset-id="{near.pk}"] td:has-text("In use")', timeout=5000)

    # Return makes it soiled; the popup now offers nothing more to a nurse.
    anna.click(".asset-popup button[data-action='return']")
    ben.wait_for_selector(f'.asset-marker[data-asset-id="{near.pk}"][data-state="soiled"]', timeout=3000)
    assert anna.locator(".asset-popup button[data-action]").count() == 0
    assert Asset.objects.get(pk=near.pk).state == AssetState.SOILED

    # The location pipeline's moves and the alerts arrive the same way (locations.live on the server).
    store_pump = Asset.objects.get(asset_tag="IP-STORE")
    ward = hospital.rooms["4N-402"]
    move = {
        "asset_id": store_pump.pk,
        "asset_tag": "IP-STORE",
        "room_id": ward.pk,
        "floor_id": hospital.floors["floor4"].pk,
    }
    move |= {"x": 12.5, "y": 2.5, "radius_m": 1.2, "confidence": 0.8, "at": timezone.now().isoformat()}
    asgi_server.notify_floor(
        hospital.floors["floor4"].pk,
        {"kind": "asset.moved", "floor_id": hospital.floors["floor4"].pk, "assets": [move]},
    )
    ben.wait_for_selector(f'#asset-rows tr[data-asset-id="{store_pump.pk}"] td:has-text("4N-402")', timeout=3000)
    downstairs = move | {"room_id": hospital.rooms["3N-301"].pk, "floor_id": hospital.floors["floor3"].pk}
    asgi_server.notify_floor(
        hospital.floors["floor4"].pk,
        {"kind": "asset.moved", "floor_id": hospital.floors["floor3"].pk, "assets": [downstairs]},
    )
    ben.wait_for_selector(f'#asset-rows tr[data-asset-id="{store_pump.pk}"]', state="detached", timeout=3000)
    alert = {"kind": "alert", "id": 1, "alert_kind": "low_battery", "alert_kind_label": "Low tag battery"}
    alert |= {"status": "open", "message": "Tag on VS-1 reports 12 % battery", "subject": {"type": "asset", "id": 0}}
    asgi_server.notify_floor(hospital.floors["floor4"].pk, alert)
    ben.wait_for_selector("#alerts li:has-text('Tag on VS-1 reports 12 % battery')", timeout=3000)
    assert ben.is_visible("#alerts-panel")

    # A dropped connection: the page says so, polls meanwhile, and reconnects by itself.
    ben.evaluate("window.floorMap.live.ws.close()")
    ben.wait_for_selector('body[data-live="polling"]', timeout=3000)
    assert "reconnecting in" in ben.inner_text("#live-status")
    ben.wait_for_selector('body[data-live="live"]', timeout=5000)

    # Keyboard: markers are focusable buttons with a name; Enter opens one, Escape closes it.
    monitor = Asset.objects.get(asset_tag="VS-1")
    ben.focus(f'.asset-marker[data-asset-id="{monitor.pk}"]')
    assert ben.evaluate("document.activeElement.getAttribute('role')") == "button"
    ben.keyboard.press("Enter")
    ben.wait_for_selector(".asset-popup .popup-title:has-text('VS-1')")
    ben.keyboard.press("Escape")
    ben.wait_for_selector(".asset-popup", state="detached")

    # Where I am is remembered between visits.
    anna.reload()
    anna.wait_for_selector("body[data-floor-loaded]")
    assert anna.input_value("#search-where").startswith("4N-402 · Room 4N-402")

    # The phone: 360 px wide, nothing wider than the screen, the search first and the map right after.
    phone = open_page("nurse-anna", viewport=PHONE, floor=hospital.floors["floor4"])
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.fill("#search-where", "4 North")
    phone.fill("#search-what", "infu")
    phone.click("button:has-text('Find nearest')")
    phone.wait_for_selector(".result")
    phone.locator(".result").first.click()
    phone.wait_for_selector(".asset-marker.is-highlighted")
    phone.wait_for_selector(".asset-popup .popup-title:has-text('IP-STORE')")
    screenshot(phone, "map-phone.png")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_floor_with_500_assets_shows_every_one_grouped_and_ungrouped(open_page):
    """500 assets on a floor: all in the list, grouped markers, and every marker drawn when ungrouped. The page's
    own timings (performance.now()) are printed and saved, not asserted: figures belong to benchmarks, and a
    wall-clock budget in a test fails on a loaded machine, not on a slow map."""
    hospital = build_map_hospital()
    UserFactory(username="nurse-perf", roles=["Nurse"])
    busy = FloorFactory(building=hospital.floors["floor4"].building, code="5", level=5, name="5 North")
    rooms = [
        RoomFactory(
            floor=busy,
            code=f"5N-{i:03d}",
            room_type=RoomType.STORAGE if i % 10 == 0 else RoomType.PATIENT,
            unit="5 North",
            polygon=square((i % 12) * 5.0, (i // 12) * 6.5, 4.5),
        )
        for i in range(48)
    ]
    now = timezone.now()
    Asset.objects.bulk_create(
        Asset(
            asset_tag=f"P-{i:04d}",
            asset_type=hospital.pump if i % 3 else hospital.monitor,
            manufacturer="BD",
            model="Alaris 8015",
            current_room=rooms[(i * 7) % len(rooms)],
            position_x=rooms[(i * 7) % len(rooms)].centroid_x,
            position_y=rooms[(i * 7) % len(rooms)].centroid_y,
            last_seen=now - timedelta(minutes=(i % 40)),  # a quarter of them stale
        )
        for i in range(500)
    )

    page = open_page("nurse-perf", floor=busy)
    load = page.evaluate("window.floorMap.metrics.last")
    assert load["assets"] == 500 and load["floor"] == busy.pk
    assert page.locator("#asset-rows tr").count() == 500  # the list alternative has them all
    screenshot(page, "map-500-assets.png")  # as a nurse sees it: rooms that cannot show all their items count them
    ungrouped = page.evaluate("window.floorMap.renderUngrouped()")  # the worst case: every asset its own marker
    assert ungrouped["markers"] == 500 and page.locator("#map .asset-marker").count() == 500
    screenshot(page, "map-500-assets-ungrouped.png")
    result = {"grouped_load": load, "ungrouped_render": ungrouped}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "map-performance.json").write_text(json.dumps(result, indent=2))
    print(f"\nfloor with 500 assets: {json.dumps(result)}")


def test_swagger_ui_and_the_admin_render_under_the_csp(browser, asgi_server):
    """The Content-Security-Policy forbids inline scripts: Swagger UI and the admin still work, no violation."""
    admin_user = UserFactory(username="csp-admin", password=PASSWORD, is_staff=True, is_superuser=True)
    device = enrolled(admin_user)  # superusers sign in to the admin with a second factor
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    page.on("pageerror", lambda error: violations.append(str(error)))
    try:
        page.goto(f"{asgi_server.url}/api/v1/docs/")
        page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)  # operations rendered by the script
        page.goto(f"{asgi_server.url}/admin/login/")
        page.fill("#id_username", "csp-admin")
        page.fill("#id_password", PASSWORD)
        page.fill("#id_otp_code", code_for(device))
        page.click("input[type=submit]")
        page.wait_for_selector("#content")
        page.goto(f"{asgi_server.url}/admin/assets/asset/add/")
        page.wait_for_selector("#asset_form")
    finally:
        context.close()
    assert not violations, violations


def test_the_map_warns_before_it_signs_out_and_stay_signed_in_keeps_the_session(open_page, settings):
    """Polling is not activity: a map left alone warns (an alert dialog, focus on its button), then signs out."""
    settings.SESSION_IDLE_SECONDS = 14
    settings.SESSION_WARN_SECONDS = 8
    settings.MAP_POLL_SECONDS = 1  # it polls all the time: that must not keep the session alive
    build_map_hospital()
    UserFactory(username="nurse-idle", roles=["Nurse"])
    page = open_page("nurse-idle")
    warning = page.locator("#session-warning")
    warning.wait_for(state="visible", timeout=12_000)
    assert warning.get_attribute("role") == "alertdialog"
    assert "signed out in" in warning.inner_text() and "seconds" in page.inner_text("#session-countdown")
    assert page.evaluate("document.activeElement.id") == "session-stay"
    screenshot(page, "map-session-warning.png")

    page.click("#session-stay")  # "Stay signed in": the server counts it as activity
    warning.wait_for(state="hidden", timeout=3_000)
    assert page.evaluate("window.floorMapSession.deadline() - Date.now()") > 10_000

    # Left alone again: warned again, then signed out to the sign-in page, which says why.
    warning.wait_for(state="visible", timeout=12_000)
    page.wait_for_url(re.compile(r"/map/login/\?expired=idle"), timeout=15_000)
    assert "You were signed out after a while without activity" in page.inner_text("main")


def test_the_map_in_spanish_including_what_its_javascript_draws(browser, asgi_server):
    """Accept-Language: es (the browser's locale): the sign-in page, the map, its legend, the list, the search,
    a popup and an action's answer are in Spanish; the machine values (states in data attributes) are not."""
    hospital = build_map_hospital()
    UserFactory(username="enfermera-ana", roles=["Nurse"])
    near = hospital.place("4N-401", asset_tag="IP-NEAR")
    hospital.place("4N-STORE", asset_tag="IP-STORE")
    context = browser.new_context(viewport=DESKTOP, locale="es-ES")
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{asgi_server.url}/map/")
        assert page.inner_text("h1") == "Iniciar sesión en el plano"
        page.fill("#id_username", "enfermera-ana")
        page.fill("#id_password", PASSWORD)
        page.click("button:has-text('Iniciar sesión')")
        page.wait_for_selector("body[data-floor-loaded]")
        page.select_option("#floor-select", str(hospital.floors["floor4"].pk))
        page.wait_for_selector(f'body[data-floor-loaded="{hospital.floors["floor4"].pk}"]')

        assert page.get_attribute("html", "lang") == "es"
        assert page.inner_text(".topbar h1") == "Plano"
        legend = page.inner_text("#legend")
        assert "Disponible" in legend and "Limpio, funciona" in legend and "En limpieza" in legend
        # Drawn by map.js from the JavaScript catalogue and the translated config.
        assert page.get_attribute("#map", "aria-label") == "Plano de North Tower, 4 North"
        row = page.locator(f'#asset-rows tr[data-asset-id="{near.pk}"]')
        assert row.locator("button[data-show]").inner_text() == "Mostrar en el mapa"
        assert row.locator(".state-badge").inner_text().strip().endswith("Disponible")
        assert "visto por última vez" in page.locator(f'.asset-marker[data-asset-id="{near.pk}"]').get_attribute(
            "aria-label"
        )
        # Dates in the page's language: no English AM/PM in the full time of "last seen".
        full_time = row.locator("td:nth-child(4) span[title]").get_attribute("title")
        assert full_time and "AM" not in full_time and "PM" not in full_time

        page.fill("#search-what", "infusion pump")
        page.fill("#search-where", "4N-402")
        page.click("button:has-text('Buscar el más cercano')")
        page.wait_for_selector(".result")
        first = page.locator(".result-list .result").nth(0).inner_text()
        assert first.startswith("IP-NEAR") and "a 10 m" in first and "visto por última vez" in first
        assert "localizados" in page.inner_text("#search-status")
        assert "Infusion pump" in first  # equipment names are the hospital's own data: not translated
        screenshot(page, "map-desktop-es.png")

        page.locator(".result-list .result").nth(0).click()
        page.wait_for_selector(".asset-popup")
        assert page.locator(".asset-popup button[data-action='start_use']").inner_text() == "Iniciar uso"
        assert "Visto por última vez" in page.inner_text(".asset-popup")
        page.click(".asset-popup button[data-action='start_use']")
        page.wait_for_selector(f'.asset-marker[data-asset-id="{near.pk}"][data-state="in_use"]', timeout=5000)
        page.wait_for_function(
            "() => document.querySelector('.asset-popup .popup-message').textContent.includes('ahora')"
        )
        assert page.inner_text(".asset-popup .popup-message") == "IP-NEAR: ahora «En uso»."
        assert Asset.objects.get(pk=near.pk).state == AssetState.IN_USE

        # A live alert carries its kind's label in the source language; the page shows the reader's.
        alert = {"kind": "alert", "id": 1, "alert_kind": "low_battery", "alert_kind_label": "Tag battery low"}
        alert |= {"status": "open", "message": "VS-1: 12 %", "subject": {"type": "asset", "id": 0}}
        asgi_server.notify_floor(hospital.floors["floor4"].pk, alert)
        page.wait_for_selector("#alerts li:has-text('VS-1: 12 %')", timeout=3000)
        assert page.inner_text("#alerts li strong") == "Batería de la etiqueta baja"
    finally:
        context.close()
        time.sleep(0.3)
    assert not errors, f"JavaScript errors on the page: {errors}"


def a11y_hospital():
    """The map hospital with a nurse, pumps around 4N-402, and a room too full to show its items one by one."""
    hospital = build_map_hospital()
    UserFactory(username="nurse-a11y", roles=["Nurse"])
    near = hospital.place("4N-401", asset_tag="IP-NEAR")  # 10 m from 4N-402
    hospital.place("4N-STORE", asset_tag="IP-STORE")  # 20 m
    hospital.place("3N-301", asset_tag="IP-DOWNSTAIRS")
    hospital.place("4N-NS", asset_tag="IP-STALE", seen_minutes_ago=45)
    for i in range(12):  # a group marker "12 ✓4" at the floor's first zoom
        state = AssetState.AVAILABLE if i < 4 else AssetState.SOILED
        hospital.place("4N-SOIL", asset_tag=f"VS-S{i:02d}", asset_type=hospital.monitor, state=state)
    hospital.place("4N-402", asset_tag="VS-1", asset_type=hospital.monitor)
    return hospital, near


def test_axe_finds_no_serious_violation_on_the_nurses_pages(browser, asgi_server, transactional_db):
    """Sign-in, the map (markers and a group), a room's popup, the search results and a start-use confirmation."""
    hospital, near = a11y_hospital()
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(f"{asgi_server.url}/map/")
        page.wait_for_selector("#id_username")
        check_page(page, "map-login")
        page.fill("#id_username", "nurse-a11y")
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_selector("body[data-floor-loaded]")
        page.select_option("#floor-select", str(hospital.floors["floor4"].pk))
        page.wait_for_selector(f'body[data-floor-loaded="{hospital.floors["floor4"].pk}"]')
        group = page.locator("#map .group-marker")
        assert group.count() == 1 and re.fullmatch(r"12\s*✓4", group.inner_text().strip())
        assert group.get_attribute("aria-label").startswith("12, 4 available and located: 4N-SOIL")
        assert page.locator("#map .asset-marker").count() >= 3
        check_page(page, "map")
        page.click(".leaflet-interactive.room-nurse_station", position={"x": 4, "y": 4})  # a corner, clear of markers
        page.wait_for_selector(".room-popup")
        check_page(page, "map-room-popup")
        page.keyboard.press("Escape")
        page.fill("#search-what", "infusion pump")
        page.fill("#search-where", "4N-402")
        page.click("button:has-text('Find nearest')")
        page.wait_for_selector(".result")
        check_page(page, "map-search-results")
        page.locator(".result").first.click()
        page.click(".asset-popup button[data-action='start_use']")
        page.wait_for_selector(".asset-popup .popup-message:has-text('IP-NEAR is now In use.')")
        check_page(page, "map-start-use-confirmation")
    finally:
        context.close()
    assert Asset.objects.get(pk=near.pk).state == AssetState.IN_USE


FOCUSED_NAME = "document.activeElement.getAttribute('aria-label') || document.activeElement.innerText"


def tab_to(page, predicate: str, most: int = 8) -> None:
    """Press Tab until the focused element satisfies the JS predicate (on `el`)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!({predicate}); }})()"):
            return
    pytest.fail(f"{most} presses of Tab never reached {predicate}; focus is on {page.evaluate(FOCUSED_NAME)!r}")


UNCLIPPED = """(el) => {
  const r = el.getBoundingClientRect();
  if (r.width < 1 || r.height < 1) return "it has no size";
  if (r.top < 0 || r.left < 0 || r.bottom > window.innerHeight + 0.5 || r.right > window.innerWidth + 0.5)
    return "it is outside the viewport: " + JSON.stringify(r);
  const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
  if (!hit || !(hit === el || el.contains(hit)))
    return "it is covered or clipped by " + (hit ? hit.outerHTML.slice(0, 120) : "nothing");
  return "";
}"""


def assert_seen(page, selector: str) -> None:
    """The element is on screen as it is now, whole at its centre: not clipped by a container nor covered."""
    problem = page.locator(selector).first.evaluate(UNCLIPPED)
    assert not problem, f"{selector}: {problem}"


def nurse_by_keyboard(page, near, *, check_seen: bool = False) -> None:
    """The nurse's task without a mouse: search, open the nearest pump, start use; what a screen reader hears."""
    tab_to(page, "el.classList.contains('skip-link') && el.getAttribute('href') === '#search-what'", most=2)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "search-what"
    page.keyboard.type("infusion pump")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "search-where"
    page.keyboard.type("4N-402")
    tab_to(page, "el.type === 'submit'", most=2)
    if check_seen:
        assert_seen(page, "#search-what")
        assert_seen(page, "#search-form button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector(".result")
    status = page.inner_text("#search-status")  # a polite live region
    assert "Nearest: IP-NEAR, Infusion pump, Available, in 4N-401 Room 4N-401, 10 m away" in status, status

    tab_to(page, "el.classList.contains('result')", most=2)
    name = page.evaluate(FOCUSED_NAME)
    assert "IP-NEAR" in name and "4N-401" in name and "Available" in name and "10 m away" in name, name
    if check_seen:
        assert_seen(page, ".result")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'.asset-marker.is-highlighted[data-asset-id="{near.pk}"]')
    assert page.evaluate("document.activeElement.classList.contains('popup-title')")
    assert (
        page.evaluate("document.activeElement.closest('[role=dialog]').getAttribute('aria-label')") == "IP-NEAR details"
    )
    page.wait_for_function("document.getElementById('announcer').textContent.includes('Highlighted')")
    heard = page.inner_text("#announcer")
    for words in ("IP-NEAR", "Available", "in 4N-401", "10 m away from 4N-402"):
        assert words in heard, (words, heard)
    popup = page.inner_text(".asset-popup")
    assert "Available" in popup and "4N-401" in popup and "10 m away from 4N-402" in popup, popup

    tab_to(page, "el.dataset.action === 'start_use'", most=3)
    if check_seen:
        assert_seen(page, ".asset-popup button[data-action='start_use']")
    page.keyboard.press("Enter")  # the confirmation: the popup says what happened, and so does the live region
    page.wait_for_selector(".asset-popup .popup-message:has-text('IP-NEAR is now In use.')")
    assert page.get_attribute(".asset-popup .popup-message", "role") == "alert"
    page.wait_for_function("document.getElementById('announcer').textContent.includes('IP-NEAR is now In use.')")
    assert "In use" in page.inner_text(".asset-popup .state-badge")
    page.wait_for_function("document.activeElement.closest('.asset-popup') !== null")  # the keyboard stays in the popup
    if check_seen:
        assert_seen(page, ".asset-popup .popup-message")
    assert Asset.objects.get(pk=near.pk).state == AssetState.IN_USE


def test_a_nurse_finds_and_starts_a_pump_by_keyboard_alone(open_page):
    hospital, near = a11y_hospital()
    page = open_page("nurse-a11y")  # 3 North: the pump is upstairs
    nurse_by_keyboard(page, near)
    assert page.input_value("#floor-select") == str(hospital.floors["floor4"].pk)
    page.keyboard.press("Escape")  # closes the popup, back to the result it came from
    page.wait_for_selector(".asset-popup", state="detached")
    assert page.evaluate("document.activeElement.classList.contains('result')")


def test_at_200_percent_zoom_the_nurses_task_works_and_nothing_is_cut_off(open_page):
    """1366 px at 200 %: a 683 x 384 CSS px viewport at device scale 2. No sideways scrolling; the search,
    the results, the popup's button and its confirmation are on screen and whole when the keyboard gets there."""
    hospital, near = a11y_hospital()
    page = open_page("nurse-a11y", viewport={"width": 683, "height": 384}, device_scale_factor=2)
    assert page.evaluate("window.devicePixelRatio") == 2
    nurse_by_keyboard(page, near, check_seen=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 683
    popup = page.locator(".map-popup").bounding_box()
    box = page.locator("#map").bounding_box()
    assert box["y"] <= popup["y"] and popup["y"] + popup["height"] <= box["y"] + box["height"], (popup, box)
    screenshot(page, "map-zoom-200.png")


MOTION_PROBE = """async () => {
  // Counts the map's "move" events during one keyboard pan (an animated pan moves every frame for 0.25 s;
  // an instant one moves once) and Leaflet's "zoomanim" events (fired only by an animated zoom).
  const map = window.floorMap.map;
  await new Promise((resolve) => setTimeout(resolve, 400)); // whatever moved before has settled
  const seen = { panMoves: 0, zoomAnimated: 0 };
  let panning = false;
  document.addEventListener("keydown", (e) => { if (e.key === "ArrowRight") panning = true; }, true);
  map.on("move", () => { if (panning) seen.panMoves += 1; });
  map.on("moveend", () => { panning = false; });
  map.on("zoomanim", () => { seen.zoomAnimated += 1; });
  window.motionSeen = seen;
}"""


def test_reduced_motion_turns_off_the_maps_animations(open_page):
    hospital, near = a11y_hospital()
    pages = {
        "reduce": open_page("nurse-a11y", floor=hospital.floors["floor4"], reduced_motion="reduce"),
        "no-preference": open_page("nurse-a11y", floor=hospital.floors["floor4"], reduced_motion="no-preference"),
    }
    seen = {}
    for motion, page in pages.items():
        page.evaluate(f"window.floorMap.showAsset({near.pk}, {hospital.floors['floor4'].pk})")  # the pulsing highlight
        page.wait_for_selector(".asset-marker.is-highlighted")
        page.keyboard.press("Escape")
        page.wait_for_selector(".asset-popup", state="detached")
        page.evaluate(MOTION_PROBE)
        page.focus("#map")
        page.keyboard.press("ArrowRight")  # keyboard panning
        page.keyboard.press("Equal")  # "+" zooms in
        page.wait_for_timeout(600)
        seen[motion] = page.evaluate(
            """() => {
              const ring = getComputedStyle(document.querySelector(".asset-marker.is-highlighted"), "::after");
              return Object.assign({}, window.motionSeen, {
                ring: ring.animationName + " " + ring.animationDuration,
                fade: document.querySelector("#map").classList.contains("leaflet-fade-anim"),
              });
            }"""
        )
    assert seen["reduce"] == {"panMoves": 1, "zoomAnimated": 0, "ring": "none 0s", "fade": False}, seen
    # The same steps without the preference do animate: the probe would see it.
    assert seen["no-preference"]["panMoves"] > 1 and seen["no-preference"]["zoomAnimated"] == 1, seen
    assert seen["no-preference"]["ring"].startswith("pulse") and seen["no-preference"]["fade"], seen


def test_a_marker_turns_stale_when_the_moment_the_server_gave_passes(open_page, settings):
    """The page declares no freshness thresholds: each asset comes with the moments it turns stale and missing
    (locations/freshness.py), and the page only compares its clock with them."""
    settings.LOCATION_STALE_AFTER_SECONDS = 25 * 60  # not the default: the page must take the server's word
    hospital = build_map_hospital()
    UserFactory(username="nurse-clock", roles=["Nurse"])
    pump = hospital.place("4N-401", asset_tag="IP-AGEING", seen_minutes_ago=20)  # located for 5 more minutes
    page = open_page("nurse-clock", floor=hospital.floors["floor4"], clock=True)
    marker = page.locator(f'.asset-marker[data-asset-id="{pump.pk}"]')
    assert marker.get_attribute("data-status") == "located"

    page.clock.fast_forward("06:00")  # past stale_at; the page re-checks statuses every 30 s
    page.wait_for_selector(f'.asset-marker[data-asset-id="{pump.pk}"][data-status="stale"]', timeout=5000)
    assert "stale" in page.locator(f'.asset-marker[data-asset-id="{pump.pk}"]').get_attribute("aria-label")
