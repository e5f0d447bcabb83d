"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a real tracker
server whose consumer reads the real embedded broker. Screenshots go to test-artifacts/."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
import uuid
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
from tests.tracker.directory_events import publish_directory, service_updated
from tests.tracker.journeys import Journey
from tests.tracker.test_pathway_stats import follow_up, pathway

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


def test_a_coordinator_sees_capacity_per_region_and_parallel_referrals(
    server: str, tracker_settings: TrackerSettings, tracker_db: Database
) -> None:
    """The directory page: capacity per province and service type at a glance (a full service stands
    out), and the "rujukan paralel" marker on two active referrals of one person."""
    _, secret = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
    at = Journey().start
    publish_directory(
        tracker_settings,
        [
            service_updated("BAPAS-JAKTIM", "supervision", regions=["31.75"], available=0, at=at),
            service_updated("KEMENSOS-REHSOS", "skills_training", regions=[], available=8, at=at),
            service_updated("UPTD-PPA-DKI", "safe_shelter", regions=["31"], available=2, at=at),
        ],
    )
    first = Journey(service_type="psychosocial_support", to_agency="CSO-PSIKOSOSIAL")
    second = Journey(service_type="legal_aid", to_agency="LBH-APIK")
    second.events[0]["parallel_referral_ids"] = [first.referral_id]
    publish_events(tracker_settings, [*first.events, *second.events])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server}/login")
        page.fill("#credential", secret)
        page.click("button[type=submit]")
        expect(page.locator("#directory-panel h2")).to_have_text("Direktori layanan: kapasitas per wilayah")
        full = page.locator("td.cell[data-service='supervision'][data-region='31']")
        expect(full).to_have_text("0/10", timeout=20_000)
        expect(full).to_have_class("cell full")
        expect(page.locator("td.cell[data-service='skills_training'][data-region='nasional']")).to_have_text("8/10")
        expect(page.locator("td.cell[data-service='safe_shelter'][data-region='31']")).to_have_class("cell low")
        expect(page.locator("#directory thead")).to_contain_text("nasional")
        for journey in (first, second):
            marker = page.locator(f"tr[data-referral='{journey.referral_id}'] .badge.parallel")
            expect(marker).to_have_text("rujukan paralel · 1", timeout=20_000)
        expect(page.locator(".badge.parallel")).to_have_count(2)
        page.locator("#directory-panel").screenshot(path=str(_artifact("5-directory")))
        shot(page, "5-directory-full")
        page.click("#lang")
        expect(page.locator("#directory-panel h2")).to_have_text("Service directory: capacity per region")
        expect(page.locator("#directory thead")).to_contain_text("nationwide", timeout=10_000)
        expect(page.locator(".badge.parallel").first).to_have_text("parallel referral · 1", timeout=10_000)
        browser.close()


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"dashboard-{name}.png"


def test_a_case_is_drawn_as_a_pathway_with_a_lane_per_agency(
    server: str, tracker_settings: TrackerSettings, tracker_db: Database
) -> None:
    """Lapas -> Bapas, continued by Bapas -> Sentra, forwarded by Sentra to a CSO: four lanes, three hops (the
    continuation dashed), each with the time it took; and the person's pathway across cases."""
    _, secret = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
    subject = "sub_0123456789abcdef0123"
    first = Journey(subject_id=subject).then("ReferralAccepted", hours=2).then("ReferralStarted", hours=5)
    second = Journey(
        subject_id=subject,
        from_agency="BAPAS-JAKTIM",
        to_agency="SENTRA-HANDAYANI",
        service_type="skills_training",
        case_id=first.case_id,
        start=first.start + dt.timedelta(days=2),
    )
    second.events[0]["continues_referral_id"] = first.referral_id
    child = uuid.uuid4()
    second.then(
        "ReferralForwarded",
        hours=6,
        to_agency="YAYASAN-KARYA",
        reason_code="referred_elsewhere",
        child_referral_id=child,
    )
    third = (
        Journey(
            subject_id=subject,
            from_agency="SENTRA-HANDAYANI",
            to_agency="YAYASAN-KARYA",
            service_type="employment",
            case_id=first.case_id,
            parent=second.referral_id,
            referral_id=child,
            start=second.start + dt.timedelta(hours=6),
        )
        .then("ReferralAccepted", hours=1)
        .then("ReferralCompleted", hours=30, outcome="goals_met")
    )
    fourth = Journey(  # the next step, planned for a day to come
        subject_id=subject,
        from_agency="BAPAS-JAKTIM",
        to_agency="SENTRA-HANDAYANI",
        service_type="family_reintegration",
        case_id=first.case_id,
        start=third.start + dt.timedelta(days=2),
    )
    fourth.events[0].update(continues_referral_id=child, planned_for=dt.datetime(2027, 3, 1, 1, 0, tzinfo=dt.UTC))
    publish_events(tracker_settings, [*first.events, *second.events, *third.events, *fourth.events])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{server}/login")
        page.fill("#credential", secret)
        page.click("button[type=submit]")
        row = page.locator(f"tr[data-referral='{third.referral_id}']")
        expect(row).to_be_visible(timeout=20_000)
        row.click()
        expect(page.locator("#lanes .lane-label")).to_have_count(4, timeout=10_000)
        expect(page.locator("#lanes .stay")).to_have_count(4)
        expect(page.locator("#lanes .hop.continues")).to_have_count(2)
        expect(page.locator("#lanes .hop.forward")).to_have_count(1)
        expect(page.locator("#lanes .hop-time").nth(2)).to_have_text("3 · 30 jam")  # made, then completed 30 h later
        expect(page.locator("#lanes .stay.planned")).to_have_count(1)  # drawn on its day, after the others
        expect(page.locator("#lanes .hop-time").last).to_have_text("4 · direncanakan 2027-03-01")
        labels = page.locator("#lanes .lane-label").all_text_contents()
        assert labels == ["LAPAS-CIPINANG", "BAPAS-JAKTIM", "SENTRA-HANDAYANI", "YAYASAN-KARYA"]
        page.locator("#case-panel").screenshot(path=str(_artifact("6-pathway")))
        page.click("#open-pathway")
        expect(page.locator("#case-hint")).to_contain_text("kasus: 1", timeout=10_000)
        expect(page.locator("#lanes .stay")).to_have_count(4)
        browser.close()


def test_a_coordinator_sees_the_pathway_figures_per_template(
    server: str, tracker_settings: TrackerSettings, tracker_db: Database
) -> None:
    """Six conditional-release pathways (five completed, one with a step cancelled) and their 3-month checks:
    the pathways panel draws the completion per template with its days to the first service and follow-ups."""
    _, secret = issue_tracker_credential(tracker_db, role=TrackerRole.COORDINATOR, name="Koordinator DKI")
    events = []
    for index in range(6):
        first, second = pathway(index, cancel_second=index == 5)
        if index < 5:
            follow_up(second, 3, "employed", hours=400 + 24 * 92)
        events += [*first.events, *second.events]
    publish_events(tracker_settings, events)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(f"{server}/login")
        page.fill("#credential", secret)
        page.click("button[type=submit]")
        panel = page.locator("#pathways-panel")
        expect(panel).to_contain_text("conditional_release", timeout=20_000)
        row = panel.locator("tr[data-template='conditional_release'] td")
        expect(row).to_have_text(["5/6 (83.3 %)", "12.9", "3 bln: 5"])
        expect(panel.locator("th").first).to_have_text("templat")
        panel.screenshot(path=str(_artifact("7-pathways")))
        page.click("#lang")
        expect(row).to_have_text(["5/6 (83.3 %)", "12.9", "3 mo: 5"])
        expect(panel.locator("th").first).to_have_text("template")
        browser.close()
