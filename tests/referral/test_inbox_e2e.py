"""The agency inbox in a real browser: Debian's Chromium driven by Playwright against the real referral
service (uvicorn, SQLite). Two people of two agencies work one referral through; the Lapas watches every
step arrive without reloading, the Bapas works on a throttled 2G line and loses nothing when a submit
fails offline, an outsider gets the API's 404. Screenshots at phone and desktop width go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from rujukan.core.broker import free_port
from rujukan.referral.api.app import create_app
from rujukan.referral.context import ReferralContext
from rujukan.referral.settings import ReferralSettings
from rujukan.referral.staff import StaffRole, add_staff, end_session

pytestmark = pytest.mark.integration
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"]
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
SLOW_2G = {"offline": False, "latency": 300, "downloadThroughput": 250 * 1024 // 8, "uploadThroughput": 50 * 1024 // 8}
LIVE = 25_000  # ms: a poll (3 s) and a fetch over the throttled line

if not shutil.which(CHROMIUM) and os.environ.get("CI") != "true":
    pytest.skip("Debian chromium is not installed here (.ci/run installs it)", allow_module_level=True)


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the browser test needs one database; the API tests cover both


@pytest.fixture
def server(settings: ReferralSettings, ctx: ReferralContext) -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings, context=ctx), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(20)


def shot(page: Page, name: str) -> None:
    """The page at its own width, and at the other one (phone 360 px, desktop 1280 px)."""
    ARTIFACTS.mkdir(exist_ok=True)
    own = page.viewport_size or DESKTOP
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)
        if label == "phone":  # nothing may stick out sideways on a 360 px phone
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        page.screenshot(path=str(ARTIFACTS / f"inbox-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(own)


def sign_in(browser: Browser, server: str, secret: str, *, viewport: ViewportSize) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.goto(f"{server}/agency/")
    expect(page).to_have_url(f"{server}/agency/login")
    page.fill("#secret", secret)
    page.click("button[type=submit]")
    expect(page.locator("#live")).to_have_text("Langsung", timeout=LIVE)
    return context, page


def test_two_agencies_work_a_referral_through_the_inbox(server: str, ctx: ReferralContext, tmp_path: Path) -> None:
    lapas = add_staff(ctx, agency_code="LAPAS-CIPINANG", name="Siti Lapas", role=StaffRole.CASEWORKER)
    bapas = add_staff(ctx, agency_code="BAPAS-JAKTIM", name="Andi Bapas", role=StaffRole.CASEWORKER)
    outsider = add_staff(ctx, agency_code="KEMENSOS-HANDAYANI", name="Orang Luar", role=StaffRole.CASEWORKER)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

        # a wrong secret is refused on the sign-in page, which speaks Indonesian and English
        probe = browser.new_page(viewport=PHONE)
        probe.goto(f"{server}/agency/login")
        probe.fill("#secret", "rjk_not-a-real-one")
        probe.click("button[type=submit]")
        expect(probe.locator("#failed")).to_be_visible()
        shot(probe, "1-sign-in-failed")
        probe.click("#lang")
        expect(probe.locator("button[type=submit]")).to_have_text("Sign in")
        probe.close()

        # the Lapas caseworker, on a phone, makes the referral with the form
        lapas_context, lapas_page = sign_in(browser, server, lapas.secret, viewport=PHONE)
        expect(lapas_page.locator("#agency")).to_have_text("Lapas Kelas I Cipinang")
        lapas_page.click("#tab-new")
        form = lapas_page.locator("#new-referral")
        form.locator("select[name=to_agency]").select_option("BAPAS-JAKTIM")
        form.locator("select[name=service_type]").select_option("supervision")
        form.locator("select[name=urgency]").select_option("urgent")
        form.locator("textarea[name=reason]").fill("Bebas bersyarat bulan depan; perlu pembimbingan.")
        form.locator("select[name=legal_basis]").select_option("consent")
        form.locator("select[name=consent_given_by]").select_option("subject")
        form.locator("input[name=full_name]").fill("Budi Santoso Fiktif")
        form.locator("input[name=nik]").fill("3175010101900001")
        form.locator("select[name=sex]").select_option("male")
        form.locator("select[name=category]").select_option("inmate_pre_release")
        form.locator("input[name=region_code]").fill("31.75")
        lapas_page.click("#check")  # pre-flight first: nothing is made
        expect(form.locator(".ok, .warning")).to_be_visible(timeout=LIVE)
        shot(lapas_page, "2-new-referral-checked")
        lapas_page.click("#send")
        created = form.locator(".ok a")
        expect(created).to_be_visible(timeout=LIVE)
        referral_id = created.inner_text()
        shot(lapas_page, "3-new-referral-created")
        created.click()
        expect(lapas_page.locator("#status")).to_have_attribute("data-status", "requested", timeout=LIVE)
        expect(lapas_page.locator("#info")).to_contain_text("Budi Santoso Fiktif")  # a party sees the subject
        expect(lapas_page.locator("#info")).to_contain_text("Bapas Jakarta Timur")
        expect(lapas_page.locator("#info")).to_contain_text("pembimbingan kemasyarakatan")

        # the Bapas caseworker, at a desk on a 2G line, finds it in the inbox
        bapas_context, bapas_page = sign_in(browser, server, bapas.secret, viewport=DESKTOP)
        cdp = bapas_context.new_cdp_session(bapas_page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_2G)
        card = bapas_page.locator(f"a[data-referral='{referral_id}']")
        expect(card).to_be_visible(timeout=LIVE)
        expect(card).to_contain_text("mendesak")
        shot(bapas_page, "4-incoming")
        card.click()
        expect(bapas_page.locator("#info")).to_contain_text("3175010101900001", timeout=LIVE)
        shot(bapas_page, "5-detail")

        steps = [("accept", "accepted", None), ("start", "in_progress", None)]
        for action, status, _ in steps:
            bapas_page.click(f"button[data-action={action}]")
            bapas_page.click(f"form[data-form={action}] button[type=submit]")
            expect(bapas_page.locator("#status")).to_have_attribute("data-status", status, timeout=LIVE)
            # the Lapas sees it without reloading
            expect(lapas_page.locator("#status")).to_have_attribute("data-status", status, timeout=LIVE)

        # a note typed while the line is down: the submit fails, says so, and the text stays
        note_text = "Klien hadir wajib lapor minggu pertama."
        cdp.send("Network.emulateNetworkConditions", {**SLOW_2G, "offline": True})
        note_form = bapas_page.locator("form[data-form=note]")
        note_form.locator("textarea").fill(note_text)
        note_form.locator("button[type=submit]").click()
        expect(note_form.locator(".error")).to_be_visible(timeout=LIVE)
        expect(note_form.locator("textarea")).to_have_value(note_text)
        shot(bapas_page, "6-offline-submit-failed")
        expect(bapas_page.locator("#live")).to_have_text("Terputus — mencoba lagi…", timeout=LIVE)
        cdp.send("Network.emulateNetworkConditions", SLOW_2G)
        note_form.locator("button[type=submit]").click()
        expect(bapas_page.locator("#history")).to_contain_text(note_text, timeout=LIVE)
        expect(lapas_page.locator("#history")).to_contain_text(note_text, timeout=LIVE)

        bapas_page.click("button[data-action=complete]")
        bapas_page.locator("form[data-form=complete] select[name=outcome]").select_option("service_delivered")
        bapas_page.click("form[data-form=complete] button[type=submit]")
        expect(bapas_page.locator("#status")).to_have_attribute("data-status", "completed", timeout=LIVE)
        expect(lapas_page.locator("#status")).to_have_attribute("data-status", "completed", timeout=LIVE)
        expect(lapas_page.locator("#history li")).to_have_count(5)
        expect(lapas_page.locator("#history")).to_contain_text(bapas.staff.id)  # who acted, by pseudonym
        assert "Andi Bapas" not in lapas_page.content()  # the name stays with the Bapas' supervisors
        expect(lapas_page.locator("#history")).to_contain_text("layanan diberikan")
        shot(bapas_page, "7-completed-bapas")
        shot(lapas_page, "8-completed-lapas-live")
        lapas_page.click("#tab-outgoing")
        expect(lapas_page.locator("#cards")).to_contain_text("Tidak ada rujukan terbuka")  # completed: not open
        lapas_page.click("#closed")
        expect(lapas_page.locator(f"a[data-referral='{referral_id}']")).to_contain_text("selesai", timeout=LIVE)
        shot(lapas_page, "9-outgoing")

        # an outsider's staff account: the API's 404, and no subject data on the page
        outsider_context, outsider_page = sign_in(browser, server, outsider.secret, viewport=PHONE)
        outsider_page.goto(f"{server}/agency/#/r/{referral_id}")
        expect(outsider_page.locator("#view")).to_contain_text("referral not found", timeout=LIVE)
        assert "Budi" not in outsider_page.content()
        shot(outsider_page, "10-outsider-404")

        # the Lapas session ends while a note is being typed: the page stays, says so, keeps the text; signed
        # in again in another tab, the same page sends it (with the new session's CSRF token)
        lapas_note = "Mohon kirim salinan laporan akhir."
        lapas_form = lapas_page.locator("form[data-form=note]")
        lapas_page.goto(f"{server}/agency/#/r/{referral_id}")
        expect(lapas_form).to_be_visible(timeout=LIVE)
        lapas_form.locator("textarea").fill(lapas_note)
        token = next(c["value"] for c in lapas_context.cookies() if c["name"] == "rujukan_agency")
        end_session(ctx, token=token)
        lapas_form.locator("button[type=submit]").click()
        expect(lapas_form.locator(".error")).to_be_visible(timeout=LIVE)
        expect(lapas_form.locator("textarea")).to_have_value(lapas_note)
        expect(lapas_page.locator("#banner a")).to_have_attribute("href", "/agency/login")
        assert lapas_page.url.endswith(f"#/r/{referral_id}")
        shot(lapas_page, "11-session-ended-text-kept")
        other_tab = lapas_context.new_page()
        other_tab.goto(f"{server}/agency/login")
        other_tab.fill("#secret", lapas.secret)
        other_tab.click("button[type=submit]")
        expect(other_tab.locator("#live")).to_have_text("Langsung", timeout=LIVE)
        other_tab.close()
        lapas_form.locator("button[type=submit]").click()
        expect(lapas_page.locator("#history")).to_contain_text(lapas_note, timeout=LIVE)
        expect(bapas_page.locator("#history")).to_contain_text(lapas_note, timeout=LIVE)

        # signing out ends the session: the inbox asks for the secret again
        lapas_page.click("#logout button")
        expect(lapas_page).to_have_url(f"{server}/agency/login")
        lapas_page.goto(f"{server}/agency/")
        expect(lapas_page).to_have_url(f"{server}/agency/login")
        for context in (lapas_context, bapas_context, outsider_context):
            context.close()
        browser.close()
