"""The demo's "Remember me" in a real browser (Debian's Chromium driven by Playwright, launched
as in ``tests/project/test_demo_browser.py``): unchecked, a browser-session cookie and two idle
hours; checked, a cookie and a session for 30 days; "Your devices" shows each device's absolute end.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from .test_demo_browser import LAPTOP_UA, PHONE_UA, _device, browser, demo_url

__all__ = ["browser", "demo_url"]  # the fixtures, shared with the devices test

DAY = 24 * 3600


def _sign_in(page: Page, base: str, name: str, *, remember: bool) -> None:
    page.goto(base + "/")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill("demo")
    if remember:
        page.get_by_label("Remember me for 30 days").check()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Signed in as {name}")).to_be_visible()


def _stamp(page: Page, css: str) -> datetime:
    when = page.locator("ul.devices li", has_text="This device").locator(f".{css} data")
    return datetime.fromisoformat(when.get_attribute("value") or "")


def test_remember_me_chooses_the_cookie_and_the_idle_ttl(browser: Browser, demo_url: str) -> None:
    laptop_ctx = _device(browser, LAPTOP_UA, 1280, 800)
    phone_ctx = _device(browser, PHONE_UA, 390, 844)
    try:
        laptop, phone = laptop_ctx.new_page(), phone_ctx.new_page()
        _sign_in(laptop, demo_url, "alice", remember=False)
        _sign_in(phone, demo_url, "alice", remember=True)

        (short,) = [c for c in laptop_ctx.cookies() if c["name"] == "session_id"]
        assert short["expires"] == -1  # a browser-session cookie: gone when the browser closes
        (kept,) = [c for c in phone_ctx.cookies() if c["name"] == "session_id"]
        assert 29 * DAY < kept["expires"] - time.time() <= 30 * DAY

        now = datetime.now(UTC)
        laptop.goto(demo_url + "/sessions")
        expect(laptop.locator("ul.devices li")).to_have_count(2)
        assert now < _stamp(laptop, "idle-end") <= now + timedelta(hours=2, minutes=1)
        absolute = _stamp(laptop, "absolute-end")
        assert now + timedelta(days=89) < absolute <= now + timedelta(days=90, minutes=1)
        expect(laptop.locator("ul.devices li .absolute-end")).to_have_count(2)

        phone.goto(demo_url + "/sessions")
        assert now + timedelta(days=29) < _stamp(phone, "idle-end") <= now + timedelta(days=31)
        # Readable on a phone: nothing wider than the screen.
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        laptop_ctx.close()
        phone_ctx.close()
