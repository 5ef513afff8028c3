"""The chat page in a real browser against real daphne + Celery worker + PostgreSQL + Redis.

The LLM is the scripted OpenAI-compatible server: each test queues the tool calls and answers its
question gets, matched by a unique piece of the question.
"""

import uuid

import psycopg
import pytest

from tests.fakes.llm_server import error, text, tool_call
from tests.support.principals import api_user

from .chat import (
    ask, assert_each_event_rendered_once, column, sign_in_with_api_key, sign_in_with_password, thread_id,
    wait_finished,
)
from .conftest import PHONE

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"

CUSTOMERS_CODE = """top = executor.run_sql(
    "SELECT c.id AS customer_id, c.first_name || ' ' || c.last_name AS name, c.country, SUM(i.total) AS total_spent "
    "FROM customer c JOIN invoice i ON i.customer_id = c.id GROUP BY c.id ORDER BY total_spent DESC, c.id LIMIT 10")
executor.store_artifact('top_customers', 'Top 10 customers by total spending', 'table', top)
everyone = executor.run_sql("SELECT id, first_name, last_name, country FROM customer ORDER BY id")
executor.store_artifact('all_customers', 'All customers', 'table', everyone)
executor.print(f"{len(top)} top customers, {len(everyone)} customers in all")"""

REFUND_SQL = "SELECT issue_credit(5, 20.00) AS credit_id"
REFUND_CODE = (
    f'refund_data = await executor.run_sql("{REFUND_SQL}")\n'
    "executor.store_artifact('refund_result', 'Refund Result', 'table', refund_data)"
)

GENRE_CODE = """rows = executor.run_sql(
    "SELECT g.name AS genre, COUNT(*) AS tracks FROM track t JOIN genre g ON g.id = t.genre_id "
    "GROUP BY g.name ORDER BY tracks DESC, g.name LIMIT 8")
executor.store_artifact('tracks_by_genre', 'Tracks per genre', 'chart', {'type': 'bar', 'x': 'genre', 'y': 'tracks', 'rows': rows})
executor.store_artifact('genre_table', 'Tracks per genre, as a table', 'table', rows)
executor.print(f"{len(rows)} genres")"""


def unique(question: str) -> str:
    return f"{question} [{uuid.uuid4().hex[:8]}]"


def demo_rows(url: str, sql: str):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def person(django_user_model):
    username = f"ana-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_user(username, password=PASSWORD)
    return username


def open_chat(new_page, stack, person):
    page = new_page()
    sign_in_with_password(page, stack.base_url, person, PASSWORD)
    return page


def test_question_streams_then_shows_the_table_and_the_answer(stack, llm, tenant_demo, demo_pg_url, person, new_page, screenshot):
    question = unique("Who are my top customers?")
    answer = (
        "Here are your ten best customers by total spending:\n\n"
        "<artifact identifier='top_customers' warning='I cannot see the full data so I must not make up observations' />\n\n"
        "The **first row** is your best customer; `all_customers` lists everyone.\n\n"
        "Ask me to chart their spending, or to break it down by country or by year."
    )
    llm.script([
        tool_call(CUSTOMERS_CODE, call_id="call_top", text="I'll total each customer's invoices."),
        text(answer, chunks=24, token_delay=0.1),  # about 2.4 s of visible streaming
    ], match=question)
    page = open_chat(new_page, stack, person)
    page.select_option("#data-source-select", label="Chinook demo (postgresql)")
    screenshot(page, "01-new-chat")
    ask(page, question)

    streaming = page.locator(".step.streaming .bubble")
    streaming.wait_for()
    page.wait_for_function("() => (document.querySelector('.step.streaming .bubble') || {}).textContent?.includes('[top_customers]')")
    partial = streaming.inner_text()
    assert "<artifact" not in partial  # a half-streamed tag is not shown raw
    screenshot(page, "02-streaming")
    wait_finished(page)
    final_step = page.locator(".step.assistant").last
    assert "Here are your ten best customers" in final_step.inner_text()
    assert partial.startswith("Here are your ten best customers by total spending:")
    assert len(final_step.get_attribute("data-delta-seqs").split(",")) >= 2  # it arrived in pieces

    # The referenced table is in the answer; the copy in the tool output is folded away.
    table = final_step.locator(".artifact-table")
    expected = demo_rows(demo_pg_url, "SELECT c.first_name || ' ' || c.last_name FROM customer c JOIN invoice i ON i.customer_id = c.id "
                                      "GROUP BY c.id ORDER BY SUM(i.total) DESC, c.id LIMIT 10")
    names = column(table, "name")
    assert names == [row[0] for row in expected]
    assert "must not make up observations" in final_step.inner_text()
    assert final_step.locator("strong", has_text="first row").count() == 1
    assert page.locator("details.tool-artifact.shown-below[data-artifact-wrap=top_customers]").count() == 1
    final_step.evaluate("(step) => step.scrollIntoView({block: 'start'})")
    screenshot(page, "03-answer-with-table")

    # Python and SQL are folded until opened.
    code = page.locator("details.code").first
    assert code.get_attribute("open") is None
    code.locator("summary").click()
    assert "store_artifact('top_customers'" in code.locator("pre").inner_text()
    sql = page.locator("details.sql").first
    assert "2 statements" in sql.locator("summary").inner_text() and sql.get_attribute("open") is None

    # Sorting by a column, both ways.
    table.locator("th button", has_text="name").click()
    assert column(table, "name") == sorted(names, key=str.lower)
    table.locator("th button", has_text="name").click()
    assert column(table, "name") == sorted(names, key=str.lower, reverse=True)

    # CSV download of what is on screen, built in the page.
    with page.expect_download() as download:
        final_step.locator(".artifact-table .table-tools button", has_text="CSV").click()
    csv_lines = open(download.value.path(), encoding="utf-8").read().splitlines()
    assert sorted(csv_lines[0].split(",")) == ["country", "customer_id", "name", "total_spent"] and len(csv_lines) == 11
    assert [line for line in csv_lines if names[-1] in line]
    assert download.value.suggested_filename == "Top_10_customers_by_total_spending.csv"

    # A large table is paged.
    everyone = page.locator(".tool-artifact[data-artifact-wrap=all_customers] .artifact-table")
    total = demo_rows(demo_pg_url, "SELECT count(*) FROM customer")[0][0]
    assert everyone.locator(".page-info").inner_text() == f"Rows 1–25 of {total}"
    assert everyone.locator("tbody tr").count() == 25
    everyone.locator(".pager button", has_text="Next").click()
    assert everyone.locator(".page-info").inner_text() == f"Rows 26–50 of {total}"
    assert column(everyone, "id")[0] == "26"
    assert_each_event_rendered_once(page, stack.base_url, thread_id(page))

    # The thread list names the conversation after the question.
    page.locator(".thread-item.current .thread-name", has_text=question[:30]).wait_for()

    # Phone-sized: nothing wider than the screen; the thread list slides in from the menu.
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # The list slides out with a 0.2 s transition: wait until it has left the screen entirely.
    page.wait_for_function("() => document.querySelector('#sidebar').getBoundingClientRect().right <= 1", timeout=5000)
    screenshot(page, "04-phone-answer")
    page.click("#menu-toggle")
    page.wait_for_function("() => document.querySelector('#sidebar').getBoundingClientRect().x >= 0")
    screenshot(page, "05-phone-thread-list")


def start_refund(page, llm, question, answer):
    llm.script([tool_call(REFUND_CODE, call_id="call_refund"), text(answer, chunks=4)], match=question)
    ask(page, question)
    card = page.locator(".confirm.pending")
    card.wait_for()
    assert card.locator(".sql-text").inner_text() == REFUND_SQL  # exactly the statement that would run
    return card


def credits(url: str) -> int:
    return demo_rows(url, "SELECT count(*) FROM credit WHERE customer_id = 5 AND amount = 20.00")[0][0]


def test_approving_a_refund_continues_the_stream(stack, llm, writable_demo, fresh_demo_pg_url, person, new_page, screenshot):
    question = unique("Refund customer 5 twenty dollars")
    page = open_chat(new_page, stack, person)
    card = start_refund(page, llm, question, "The refund is done:\n\n<artifact identifier='refund_result' />")
    screenshot(page, "06-confirmation-pending")
    assert credits(fresh_demo_pg_url) == 0
    card.locator("button.approve").click()
    page.locator(".confirm .decided-approved").wait_for()
    wait_finished(page)
    result = page.locator(".step.assistant").last
    assert "The refund is done" in result.inner_text()
    credit_id = result.locator(".artifact-table tbody td").first.inner_text()
    assert credits(fresh_demo_pg_url) == 1
    assert demo_rows(fresh_demo_pg_url, "SELECT id FROM credit WHERE customer_id = 5")[0][0] == int(credit_id)
    assert page.locator(".confirm button").count() == 0
    screenshot(page, "07-refund-approved")
    assert_each_event_rendered_once(page, stack.base_url, thread_id(page))


def test_denying_a_refund_runs_nothing_and_says_so(stack, llm, tenant_demo, demo_pg_url, person, new_page, screenshot):
    before = credits(demo_pg_url)
    question = unique("Refund customer 5 please")
    page = open_chat(new_page, stack, person)
    card = start_refund(page, llm, question, "You did not approve the refund, so no credit was issued.")
    card.locator("button.deny").click()
    page.locator(".confirm .decided-denied").wait_for()
    wait_finished(page)
    failure = page.locator(".tool-result .error-box")
    assert "did not approve this statement" in failure.inner_text() and REFUND_SQL in failure.inner_text()
    assert "no credit was issued" in page.locator(".step.assistant").last.inner_text()
    assert credits(demo_pg_url) == before
    screenshot(page, "08-refund-denied")


def test_reload_and_dropped_socket_mid_run_lose_and_double_nothing(stack, llm, writable_demo, person, new_page, screenshot):
    question = unique("Refund customer 5 after a reload")
    page = open_chat(new_page, stack, person)
    start_refund(page, llm, question, "Refund issued after the reload.")
    thread = thread_id(page)
    before = assert_each_event_rendered_once(page, stack.base_url, thread)

    page.reload()
    page.locator(".confirm.pending").wait_for()
    page.wait_for_function("(seq) => window.querent.socket && window.querent.socket.lastSeq >= seq", arg=before[-1])
    assert thread_id(page) == thread
    assert page.locator(".msg.user").count() == 1 and page.locator(".confirm").count() == 1
    assert page.locator(".msg.user").inner_text() == question
    assert_each_event_rendered_once(page, stack.base_url, thread)
    screenshot(page, "09-after-reload-pending")

    # The connection drops; the page reconnects after the last seq it has and misses nothing.
    page.wait_for_function("() => window.querent.socket.isOpen")
    page.evaluate("window.querent.socket.ws.close()")
    page.wait_for_function("() => window.querent.socket.isOpen && window.querent.socket.opened >= 2")
    page.locator(".confirm.pending button.approve").click()
    wait_finished(page)
    assert "Refund issued after the reload." in page.locator(".step.assistant").last.inner_text()
    after = assert_each_event_rendered_once(page, stack.base_url, thread)
    assert len(after) > len(before)
    assert page.locator(".turn").count() == 1 and page.locator(".turn-end").count() == 1


def test_chart_artifact_and_table_drawn_as_chart(stack, llm, tenant_demo, demo_pg_url, person, new_page, screenshot):
    question = unique("Show tracks per genre as a chart")
    llm.script([
        tool_call(GENRE_CODE, call_id="call_chart"),
        text("Tracks per genre:\n\n<artifact identifier='tracks_by_genre' />\n\n<artifact identifier='genre_table' />"),
    ], match=question)
    page = open_chat(new_page, stack, person)
    ask(page, question)
    wait_finished(page)
    expected = demo_rows(demo_pg_url, "SELECT g.name, COUNT(*) FROM track t JOIN genre g ON g.id = t.genre_id "
                                      "GROUP BY g.name ORDER BY 2 DESC, g.name LIMIT 8")
    chart = page.locator(".bubble .artifact-chart svg.chart")
    bars = chart.locator("rect.bar")
    assert bars.count() == len(expected) == 8
    heights = [float(h) for h in bars.evaluate_all("(rects) => rects.map((r) => r.getAttribute('height'))")]
    assert all(h > 0 for h in heights) and heights == sorted(heights, reverse=True) and heights[0] > heights[-1]
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 150
    assert expected[0][0] in chart.locator("text.tick").all_text_contents()
    screenshot(page, "10-chart", locator=page.locator(".bubble .artifact-chart"))
    page.locator("#thread-title", has_text="Show tracks per genre").wait_for()
    page.locator(".step.assistant").last.evaluate("(step) => step.scrollIntoView({block: 'start'})")
    screenshot(page, "10-chart-in-answer")

    # Any table with a number column can be drawn; here as a line.
    table = page.locator(".bubble .artifact-table")
    table.locator("button.chart-toggle").click()
    table.locator(".chart-controls select").first.select_option("line")
    line = table.locator("svg.chart path.line")
    path = line.get_attribute("d")
    assert path.startswith("M") and path.count("L") == len(expected) - 1
    assert table.locator("svg.chart circle.point").count() == len(expected)
    screenshot(page, "11-table-as-line-chart", locator=table)
    table.locator("button.chart-toggle").click()
    assert table.locator("table.data tbody tr").count() == len(expected)


def test_api_key_sign_in_rename_and_delete(stack, llm, tenant_demo, new_page, screenshot):
    user = api_user(tenant="default")
    token = user["Authorization"].split(" ", 1)[1]
    page = new_page()
    page.goto(stack.base_url + "/")
    page.wait_for_selector("#signin:not([hidden])")
    page.fill("#apikey", "qk_wrong_key")
    page.click("#apikey-form button[type=submit]")
    page.locator("#signin-error", has_text="not accepted").wait_for()
    screenshot(page, "12-sign-in")
    sign_in_with_api_key(page, stack.base_url, token)
    assert user["_user_id"] in page.inner_text("#whoami")

    question = unique("How many artists are there")
    llm.script([text("There are **275** artists.", chunks=3)], match=question)
    ask(page, question)
    wait_finished(page)
    assert "There are 275 artists." in page.locator(".step.assistant").last.inner_text()
    thread = thread_id(page)

    item = page.locator(f".thread-item[data-thread-id='{thread}']")
    item.hover()
    item.locator("button.rename").click()
    page.fill(".rename-input", "Artist count")
    page.press(".rename-input", "Enter")
    page.locator(f".thread-item[data-thread-id='{thread}'] .thread-name", has_text="Artist count").wait_for()
    assert page.inner_text("#thread-title") == "Artist count"

    page.reload()
    page.locator(f".thread-item[data-thread-id='{thread}'] .thread-name", has_text="Artist count").wait_for()
    item = page.locator(f".thread-item[data-thread-id='{thread}']")
    item.hover()
    item.locator("button.delete").click()
    page.click(".confirm-delete")
    page.wait_for_function("(thread) => !document.querySelector(`.thread-item[data-thread-id='${thread}']`)", arg=thread)
    assert page.inner_text("#thread-title") == "New chat"
    response = page.request.get(f"{stack.base_url}/threads/{thread}", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 404


def test_model_failure_is_shown_as_a_clear_error(stack, llm, tenant_demo, person, new_page, screenshot):
    question = unique("What is the weather")
    llm.script([error(401, "Incorrect API key provided")], match=question)
    page = open_chat(new_page, stack, person)
    ask(page, question)
    wait_finished(page)
    failure = page.locator(".run-error")
    assert "The language model failed" in failure.inner_text()
    assert not page.locator("#send").is_disabled()  # the person can ask again
    screenshot(page, "13-model-error")

    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden])")
    assert page.request.get(f"{stack.base_url}/ui/me").status == 401
