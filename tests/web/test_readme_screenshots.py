"""The README's screenshots, taken from a clean demo: a server started as `make run` starts it (the
offline demo model, development auth, nothing but the demo data), the start page's own questions.
They are saved under test-results/screenshots/readme-*.png; docs/screenshots/ holds the copies the
README shows (copied from a run of this test)."""

import pytest

from tests.config.test_readme_examples import MakeRunServer

from .conftest import DESKTOP

# Its server runs embedded in a folder of its own, whatever the pass: the same proof in both.
pytestmark = [pytest.mark.e2e, pytest.mark.backend_independent]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    server = MakeRunServer(tmp_path_factory.mktemp("readme-shots") / "var")
    try:
        yield server.start()
    finally:
        server.stop()


def ask_and_wait(page, question: str, turns: int) -> None:
    page.fill("#question", question)
    page.click("#send")
    page.wait_for_function("(n) => document.querySelectorAll('#conversation .turn-end, #conversation .confirm-buttons').length >= n",
                           arg=turns, timeout=120_000)


def test_readme_screenshots_from_a_clean_demo(demo_server, new_page, screenshot):
    base = f"http://127.0.0.1:{demo_server.port}"
    page = new_page(DESKTOP)
    page.goto(base + "/")
    page.wait_for_selector("#app:not([hidden])")
    page.click(".chip[data-example='Who are my top customers?']")  # fills in the question
    page.click("#send")
    page.wait_for_function("() => document.querySelectorAll('#conversation .turn-end').length >= 1", timeout=120_000)
    page.locator(".artifact table.data >> visible=true").first.scroll_into_view_if_needed()
    shot = screenshot(page, "readme-chat-answer-with-table")
    assert "[" not in page.inner_text("#thread-title")  # no test tags anywhere on the page
    assert page.inner_text("#whoami").startswith("dev ")

    page.goto(base + "/")
    page.wait_for_selector("#app:not([hidden])")
    page.click("#new-chat")
    ask_and_wait(page, "Refund customer 7 $15", 1)
    page.locator(".confirm").first.scroll_into_view_if_needed()
    assert "SELECT issue_credit(7, 15.00)" in page.inner_text(".confirm")
    screenshot(page, "readme-chat-confirmation")
    page.click(".confirm-buttons .approve")
    page.wait_for_function("() => document.querySelectorAll('#conversation .turn-end').length >= 1", timeout=120_000)

    page.click("#new-chat")
    page.click(".chip[data-example='How many tracks are there per genre?']")
    page.click("#send")
    page.wait_for_function("() => document.querySelectorAll('#conversation .turn-end').length >= 1", timeout=120_000)
    page.locator("svg.chart >> visible=true").first.scroll_into_view_if_needed()
    screenshot(page, "readme-chat-chart")
    assert shot.exists()
