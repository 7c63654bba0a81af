"""The portal in a real browser (Debian's chromium, driven by Playwright): sign up, create a key, call the
API with it, watch usage and credits change, revoke it and see the API refuse it. Screenshots of every
page go to test-artifacts/portal/."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import Server

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


def shot(page: Page, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def profile_call(server: Server, key: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/profile/profile",
        json={"id": "https://www.linkedin.com/in/Casper-Linkedin/", "name": "Casper The Ghost"},
        headers={"Authorization": f"Bearer {key}", "accept-version": "v2.0"},
        timeout=10,
    )


def test_sign_up_key_usage_and_revocation_in_a_browser(
    browser: Browser, portal_server: Server, artifacts: Path
) -> None:
    email = f"dev-{uuid.uuid4().hex[:8]}@example.org"
    password = "correct horse battery staple"
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(portal_server.url + "/")
    shot(page, artifacts, "01-home")
    page.get_by_role("link", name="Sign up for a developer key").first.click()
    expect(page.get_by_role("heading", name="Sign up for a developer key")).to_be_visible()
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill(password)
    shot(page, artifacts, "02-signup")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("status")).to_contain_text("your account is ready")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    shot(page, artifacts, "03-login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("100")

    page.get_by_label("New key name").fill("crm-sync")
    page.get_by_role("button", name="Create key").click()
    key = page.get_by_test_id("new-key").inner_text().strip()
    assert key.startswith("lsk_")
    shot(page, artifacts, "04-new-key")

    r = profile_call(portal_server, key)
    assert r.status_code == 200, r.text
    assert r.headers["Decreased-Credits"] == "1"

    page.goto(portal_server.url + "/portal")
    expect(page.get_by_test_id("balance")).to_have_text("99")
    expect(page.get_by_test_id("ledger")).to_contain_text("/profile/profile")
    expect(page.get_by_test_id("requests")).not_to_have_text("0")
    expect(page.get_by_test_id("by-endpoint")).to_contain_text("/profile/profile")
    row = page.locator(f"tr[data-key-prefix='{key[:12]}']")
    expect(row).to_contain_text("1 / ")
    shot(page, artifacts, "05-dashboard-after-a-call")

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text("is revoked")
    shot(page, artifacts, "06-revoked")
    refused = profile_call(portal_server, key)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "revoked_api_key"
    context.close()


def test_docs_page_tabs_by_mouse_and_keyboard(browser: Browser, portal_server: Server, artifacts: Path) -> None:
    page = browser.new_page()
    page.goto(portal_server.url + "/portal/docs")
    expect(page.get_by_role("heading", name="API reference")).to_be_visible()
    first = page.locator("#profile")
    expect(first.get_by_role("tabpanel")).to_contain_text(f"curl -X POST '{portal_server.url}/profile/profile'")
    first.get_by_role("tab", name="Python").click()
    expect(first.get_by_role("tabpanel")).to_contain_text("import requests")
    first.get_by_role("tab", name="Python").press("ArrowRight")
    expect(first.get_by_role("tabpanel")).to_contain_text("Net::HTTP::Post")
    expect(page.locator("#email-finder").get_by_role("tabpanel")).to_contain_text("Net::HTTP::Post")
    page.keyboard.press("End")
    expect(first.get_by_role("tabpanel")).to_contain_text("await fetch(")
    expect(page.locator("#errors")).to_contain_text("429")
    shot(page, artifacts, "07-docs")
    page.close()


def test_pages_read_on_a_phone(browser: Browser, portal_server: Server, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    for path, name in (("/", "08-phone-home"), ("/portal/docs", "09-phone-docs"), ("/portal/login", "10-phone-login")):
        page.goto(portal_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} scrolls sideways on a phone ({width}px)"
        shot(page, artifacts, name)
    context.close()


@pytest.mark.parametrize(("path", "shown"), [("/docs", ".opblock-summary-path"), ("/redoc", "h2")])
def test_the_interactive_docs_render_with_the_network_closed(
    browser: Browser, portal_server: Server, artifacts: Path, path: str, shown: str
) -> None:
    """Swagger UI and ReDoc load their scripts from leadsmith itself: with every request that leaves the
    machine refused (a server with no internet), the pages still show the endpoints."""
    context = browser.new_context()
    outside: list[str] = []

    def only_here(route: Route) -> None:
        url = route.request.url
        if url.startswith(portal_server.url):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    try:
        page.goto(portal_server.url + path)
        expect(
            page.locator(shown).filter(has_text="/profile/linkedin" if path == "/docs" else "Get Lead (v2.0)").first
        ).to_be_visible(timeout=15_000)
        text = page.inner_text("body")
        for endpoint in ("/profile/profile", "/keys/remainingCredits", "/company/domainPattern"):
            assert endpoint in text or path == "/redoc"
        shot(page, artifacts, f"11-docs-offline{path.replace('/', '-')}")
    finally:
        context.close()
    assert outside == [], outside


def test_a_list_enriched_from_the_portal(
    browser: Browser, portal_server: Server, artifacts: Path, tmp_path: Path
) -> None:
    """Upload a CSV, see its columns mapped, start the job, watch it on the dashboard, download the results."""
    email = f"bulk-{uuid.uuid4().hex[:8]}@example.org"
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(portal_server.url + "/portal/signup")
    page.get_by_label("Work e-mail").fill(email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Create account").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("New key name").fill("bulk")
    page.get_by_role("button", name="Create key").click()

    source = tmp_path / "leads.csv"
    source.write_text(
        "CRM id,Profile URL,Full Name\n"
        "1,https://www.linkedin.com/in/Casper-Linkedin/,Casper The Ghost\n"
        "2,https://www.linkedin.com/in/kathleen-harvey/,Kathleen Harvey\n"
        "3,https://www.linkedin.com/in/nobody-here-at-all/,No Body\n"
    )
    page.get_by_role("link", name="Enrich a list").click()
    expect(page.get_by_role("heading", name="Enrich a list")).to_be_visible()
    page.get_by_test_id("bulk-file").set_input_files(str(source))
    expect(page.locator("select[name=linkedin]")).to_have_value("Profile URL")
    expect(page.locator("select[name=name]")).to_have_value("Full Name")
    shot(page, artifacts, "12-bulk-upload")
    page.get_by_test_id("bulk-start").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    for _ in range(50):
        if page.get_by_test_id("job-status").first.inner_text() == "done":
            break
        page.wait_for_timeout(200)
        page.reload()
    expect(page.get_by_test_id("job-status").first).to_have_text("done")
    expect(page.get_by_test_id("jobs")).to_contain_text("3 / 3")
    shot(page, artifacts, "13-bulk-done")
    with page.expect_download() as download:
        page.get_by_test_id("job-csv").first.click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0].startswith("index,ref,status")
    assert lines[1].startswith("0,1,found,Casper-Linkedin") and lines[3].startswith("2,3,not_found")
    context.close()
