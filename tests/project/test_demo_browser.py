"""The demo's "Your devices" page in a real browser: Debian's Chromium driven by Playwright.

Chromium is launched by path (``SESSION_TEST_CHROMIUM``, default ``/usr/bin/chromium``; never a
browser Playwright downloads). Without it these tests are skipped with the reason, or fail
when ``SESSION_TEST_REQUIRE_BROWSER=1`` (as in CI, whose script installs Debian's
``chromium``). Two browser contexts, each with its own cookies and ``User-Agent``, are the two
devices of one user.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from ..support.demo_server import run_demo

CHROMIUM = os.environ.get("SESSION_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE_ENV = "SESSION_TEST_REQUIRE_BROWSER"
#: No GPU, no sandbox (we run as root in a container), and nothing that talks to the network
#: on its own: the only traffic is to the demo on 127.0.0.1.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LAPTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


def _skip_or_fail(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def demo_url(db_url: str, tmp_path: Path) -> Iterator[str]:
    with run_demo(db_url, tmp_path / "data") as base:
        yield base


@pytest.fixture
def browser(demo_url: str) -> Iterator[Browser]:
    """A headless Chromium (Playwright gives it a fresh, temporary user-data-dir).

    Per test, and set up after the demo and its database: Playwright's sync API runs an
    event loop in this thread while it is open, and the database fixtures need
    ``asyncio.run``."""
    if not os.access(CHROMIUM, os.X_OK):
        _skip_or_fail(
            f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set "
            "SESSION_TEST_CHROMIUM)"
        )
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


def _device(browser: Browser, user_agent: str, width: int, height: int) -> BrowserContext:
    context = browser.new_context(
        user_agent=user_agent, viewport={"width": width, "height": height}
    )
    context.set_default_timeout(15_000)
    return context


def _sign_in(page: Page, base: str, name: str) -> None:
    page.goto(base + "/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Signed in as {name}")).to_be_visible()


def test_your_devices_labels_both_and_signs_out_the_other(
    browser: Browser, demo_url: str, tmp_path: Path
) -> None:
    laptop_ctx = _device(browser, LAPTOP_UA, 1280, 800)
    phone_ctx = _device(browser, PHONE_UA, 390, 844)
    try:
        laptop, phone = laptop_ctx.new_page(), phone_ctx.new_page()
        _sign_in(laptop, demo_url, "alice")
        _sign_in(phone, demo_url, "alice")

        laptop.goto(demo_url + "/sessions")
        rows = laptop.locator("ul.devices li")
        expect(rows).to_have_count(2)
        this = rows.filter(has_text="This device")
        expect(this).to_have_count(1)
        expect(this).to_contain_text("Firefox on Windows")
        other = rows.filter(has_text="Chrome on Android")
        expect(other).to_contain_text("127.0.0.1")
        expect(other.get_by_role("button", name="Sign out Chrome on Android")).to_be_visible()
        when = other.locator("time")
        expect(when).to_have_text("Active just now")
        expect(when).to_have_attribute("title", re.compile(r"^\d{4}-\d\d-\d\d .* UTC$"))
        laptop.screenshot(path=str(tmp_path / "devices-desktop-1280.png"), full_page=True)

        phone.goto(demo_url + "/sessions")
        expect(phone.locator("ul.devices li").filter(has_text="This device")).to_contain_text(
            "Chrome on Android"
        )
        phone.screenshot(path=str(tmp_path / "devices-phone-390.png"), full_page=True)
        # Readable on a phone: nothing wider than the screen.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390

        laptop.get_by_role("button", name="Sign out other devices").click()
        expect(laptop.get_by_role("status")).to_have_text("Signed out 1 device.")
        expect(laptop.locator("ul.devices li")).to_have_count(1)
        expect(laptop.locator("ul.devices li")).to_contain_text("This device")

        phone.goto(demo_url + "/sessions")  # signed out: sent to the sign-in form
        expect(phone.get_by_role("heading", name="Sign in")).to_be_visible()
        laptop.goto(demo_url + "/")
        expect(laptop.get_by_role("heading", name="Signed in as alice")).to_be_visible()
    finally:
        laptop_ctx.close()
        phone_ctx.close()
    assert (tmp_path / "devices-desktop-1280.png").stat().st_size > 0
    assert (tmp_path / "devices-phone-390.png").stat().st_size > 0
