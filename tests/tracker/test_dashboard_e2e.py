"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a real tracker
server whose consumer reads the real embedded broker. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Page, expect, sync_playwright

from rujukan.core.broker import free_port
from rujukan.core.db import Database
from rujukan.tracker.access import TrackerRole, issue_tracker_credential
from rujukan.tracker.api.app import create_app
from rujukan.tracker.settings import TrackerSettings
from tests.kafka_helpers import publish_events
from tests.tracker.journeys import Journey

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]

if not shutil.which(CHROMIUM) and os.environ.get("CI") != "true":
    pytest.skip("Debian chromium is not installed here (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the browser test needs one database; the API tests cover both


@pytest.fixture
def server(tracker_settings: TrackerSettings, tracker_db: Database) -> Iterator[str]:
    port = free_port()
    app = create_app(tracker_settings, db=tracker_db)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def publish(settings: TrackerSettings, journey: Journey) -> None:
    publish_events(settings, journey.events)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_a_coordinator_watches_a_referral_arrive_and_follows_its_case(
    server: str, tracker_settings: TrackerSettings, tracker_db: Database
) -> None:
    _, secret = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
    first = Journey(category="violence_victim_woman", from_agency="POLRES-JAKTIM-PPA", to_agency="UPTD-PPA-DKI")
    publish(tracker_settings, first)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        expect(page).to_have_url(f"{server}/login")
        page.fill("#credential", "rjk_not-a-real-one")
        page.click("button[type=submit]")
        expect(page.locator("#failed")).to_be_visible()
        page.fill("#credential", secret)
        page.click("button[type=submit]")
        expect(page.locator("#live")).to_have_text("Langsung", timeout=20_000)
        expect(page.locator(f"tr[data-referral='{first.referral_id}']")).to_be_visible(timeout=20_000)
        shot(page, "1-signed-in")

        forwarded = Journey(from_agency="LAPAS-CIPINANG", to_agency="BAPAS-JAKTIM").then("ReferralAccepted", hours=1)
        publish(tracker_settings, forwarded)  # arrives while the page is open: no reload
        new_row = page.locator(f"tr[data-referral='{forwarded.referral_id}']")
        expect(new_row).to_be_visible(timeout=20_000)
        expect(page.locator("#total")).to_have_text("2")
        shot(page, "2-new-referral-live")

        new_row.click()
        expect(page.locator("#timeline li")).to_have_count(2, timeout=10_000)
        expect(page.locator("#timeline")).to_contain_text("Accepted")
        expect(page.locator("#timeline")).to_contain_text("disetujui")
        shot(page, "3-case-timeline")

        page.click("#lang")
        expect(page.locator("h1")).to_have_text("Referral dashboard")
        expect(page.locator("#timeline")).to_contain_text("accepted", timeout=10_000)
        expect(page.locator("#live")).to_have_text("Live")
        shot(page, "4-english")
        page.reload()
        expect(page.locator("h1")).to_have_text("Referral dashboard")  # the choice is remembered
        browser.close()
