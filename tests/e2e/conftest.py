"""Fixtures for the browser tests: one headless Debian Chromium per test module, a fresh page per test.

Module scope (not session): the browser's event loop and DJANGO_ALLOW_ASYNC_UNSAFE end with the module, so tests
collected after tests/e2e in a plain `pytest` run keep Django's async-safety check."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}
PASSWORD = "correct horse battery"  # the `user` fixture's password (see the root conftest.py)


@pytest.fixture(scope="module")
def browser() -> Iterator[sync_api.Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/system-deps.sh` (apt-installs Debian's Chromium)")
    # Playwright's sync API runs an asyncio event loop in the test thread; without this, Django refuses ORM calls
    # made from fixtures and test bodies ("You cannot call this from an async context"). Set only while the
    # browser runs, so other tests keep Django's check.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageErrors:
    """Uncaught page exceptions, console errors and failed requests seen by one page."""

    def __init__(self, page: sync_api.Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda req: self.messages.append(f"requestfailed: {req.url} ({req.failure})"))
        page.on("response", lambda resp: self.messages.append(f"HTTP {resp.status}: {resp.url}")
                if resp.status >= 400 else None)

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.messages.append(f"console.error: {msg.text} @ {msg.location}")

    def clear(self) -> None:
        self.messages.clear()


@pytest.fixture
def page(browser, live_server) -> Iterator[sync_api.Page]:
    context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def page_errors(page) -> PageErrors:
    return PageErrors(page)


def log_in(page: sync_api.Page, username: str = "ada", password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


@pytest.fixture
def logged_in_page(page, page_errors, user) -> sync_api.Page:
    log_in(page)
    assert "/login/" not in page.url, "logging in with the right password did not leave the login page"
    return page
