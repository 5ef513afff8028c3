"""Browser tests of the chat page and the admin: Playwright driving Debian's chromium.

The browser is Debian's `/usr/bin/chromium` (Playwright never downloads one here). Screenshots of
the main states go to `test-results/screenshots/`.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.sources import tenant_source

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-results" / "screenshots"
CHROMIUM = os.environ.get("QUERENT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def tenant_demo(transactional_db, demo_pg_url):
    """The Chinook demo as the default tenant's tenant-wide data source (the people who sign in to
    the page are in that tenant), committed so the live processes see it. Not shared with every
    tenant: those are read-only, and these tests ask for approvals (and deny them)."""
    return tenant_source(demo_pg_url, tenant=settings.DEFAULT_TENANT)


@pytest.fixture
def writable_demo(transactional_db, fresh_demo_pg_url):
    """A private copy of the demo for tests that approve a write (the session's demo stays as it is)."""
    return tenant_source(fresh_demo_pg_url, tenant=settings.DEFAULT_TENANT)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop set on this thread while it runs, and Django
    # takes the tests' own ORM calls (and the database flush after each test) for calls from
    # async code. They are plain synchronous code: allow them, for this module's life only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser):
    """Pages in fresh browser contexts (own cookies), closed after the test; an uncaught script
    error on any of them fails the test."""
    contexts, errors = [], []

    def make(viewport=DESKTOP):
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        return page

    yield make
    for context in contexts:
        context.close()
    if errors:
        pytest.fail("script errors in the page:\n" + "\n".join(errors))


@pytest.fixture(scope="session")
def screenshot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, *, locator=None) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        (locator or page).screenshot(path=str(path))
        return path

    return save

