"""The chat page under its Content-Security-Policy in a real browser: signing in, a streamed answer
over the websocket, a chart, a table drawn as a chart and a CSV download report no violation."""

import uuid

import pytest

from tests.fakes.llm_server import text, tool_call

from .chat import ask, sign_in_with_password, wait_finished

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
GENRE_CODE = """rows = executor.run_sql(
    "SELECT g.name AS genre, COUNT(*) AS tracks FROM track t JOIN genre g ON g.id = t.genre_id "
    "GROUP BY g.name ORDER BY tracks DESC, g.name LIMIT 8")
executor.store_artifact('tracks_by_genre', 'Tracks per genre', 'chart', {'type': 'bar', 'x': 'genre', 'y': 'tracks', 'rows': rows})
executor.store_artifact('genre_table', 'Tracks per genre, as a table', 'table', rows)
executor.print(f"{len(rows)} genres")"""

# Installed before any of the page's own scripts run: every violation the browser reports is kept.
LISTEN = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber});
});
"""


def violations(page) -> list:
    return page.evaluate("window.__cspViolations")


def test_the_chat_page_runs_under_its_policy(stack, llm, tenant_demo, django_user_model, new_page, screenshot):
    username = f"csp-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_user(username, password=PASSWORD)
    question = f"Tracks per genre as a chart and a table [{uuid.uuid4().hex[:8]}]"
    llm.script([
        tool_call(GENRE_CODE, call_id="call_csp"),
        text("Tracks per genre:\n\n<artifact identifier='tracks_by_genre' />\n\n<artifact identifier='genre_table' />",
             chunks=6),
    ], match=question)

    page = new_page()
    page.add_init_script(LISTEN)
    console = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)

    login = page.goto(stack.base_url + "/accounts/login")
    assert "script-src 'self'" in login.headers["content-security-policy"]
    assert violations(page) == []

    response = page.goto(stack.base_url + "/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe" not in policy
    sign_in_with_password(page, stack.base_url, username, PASSWORD)
    ask(page, question)
    wait_finished(page)

    chart = page.locator(".bubble .artifact-chart svg.chart")
    assert chart.locator("rect.bar").count() == 8
    table = page.locator(".bubble .artifact-table")
    assert table.locator("table.data tbody tr").count() == 8
    table.locator("button.chart-toggle").click()
    table.locator(".chart-controls select").first.select_option("line")
    assert table.locator("svg.chart path.line").count() == 1
    table.locator("button.chart-toggle").click()
    with page.expect_download() as download:
        table.locator("button", has_text="CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    screenshot(page, "30-chat-under-csp")

    assert violations(page) == []
    assert not [line for line in console if "Content Security Policy" in line], console

    # The listener does hear violations: an inline script is refused and reported.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s); }")
    page.wait_for_function("() => window.__cspViolations.length > 0")
    assert violations(page)[0]["directive"].startswith("script-src")
    assert page.evaluate("window.ran") is None


def test_admin_and_api_docs_run_under_their_policies(stack, django_user_model, new_page):
    username = f"csp-admin-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_superuser(username, password=PASSWORD)
    page = new_page()
    page.add_init_script(LISTEN)

    docs = page.goto(stack.base_url + "/api/docs/")
    assert "script-src 'self';" in docs.headers["content-security-policy"]
    page.locator(".opblock").first.wait_for()  # Swagger UI drew the operations
    page.goto(stack.base_url + "/admin/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.locator("#site-name").wait_for()
    page.goto(stack.base_url + "/admin/threads/thread/")
    page.locator("#changelist").wait_for()
    assert violations(page) == []
