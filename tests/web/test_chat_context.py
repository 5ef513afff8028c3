"""The chat page and the context store, in a browser: the data source's scan shown and run from
the new-chat panel, and a query that ran saved as a golden SQL that the next question's prompt
carries as a verified example."""

import uuid

import pytest

from executor.context.models import GoldenSql
from tests.fakes.llm_server import text, tool_call
from tests.web.chat import ask, sign_in_with_password, wait_finished

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "context-page-pw-1"
COUNT_SQL = "SELECT COUNT(*) AS n FROM media_type"


@pytest.fixture
def person(django_user_model):
    username = f"cy-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_user(username, password=PASSWORD)
    return username


def test_scan_from_the_page_and_save_a_golden_sql(stack, llm, tenant_demo, person, new_page, screenshot):
    page = new_page()
    sign_in_with_password(page, stack.base_url, person, PASSWORD)
    page.select_option("#data-source-select", label="Chinook demo (postgresql)")
    page.click("#context-panel summary")
    page.locator("#scan-status", has_text="Not scanned yet").wait_for()
    page.click("#scan-run")
    page.locator("#scan-status", has_text="Chinook demo: Scanned (12 of 12 tables)").wait_for(timeout=60_000)
    assert "track · synchronized · 3503 rows" in page.locator("#scan-tables").inner_text()
    screenshot(page, "context-01-scanned")

    question = f"How many media types are there? [{uuid.uuid4().hex[:6]}]"
    llm.script([tool_call(f"rows = await executor.run_sql('{COUNT_SQL}')\nexecutor.print(rows[0]['n'])", call_id="call_media"),
                text("There are 5 media types.")], match=question)
    ask(page, question)
    wait_finished(page)
    page.locator("details.sql").first.click()
    save = page.locator("button.save-golden").first
    save.click()
    page.locator("button.save-golden", has_text="Saved as golden SQL").wait_for()
    saved = GoldenSql.objects.get(data_source=tenant_demo)
    assert (saved.prompt_text, saved.sql, saved.source) == (question, COUNT_SQL, "VERIFIED_QUERY")
    screenshot(page, "context-02-saved")

    # The next question in a new conversation gets it as an example.
    follow = f"How many media types do we have? [{uuid.uuid4().hex[:6]}]"
    llm.script([text("Five.")], match=follow)
    page.click("#new-chat")
    page.select_option("#data-source-select", label="Chinook demo (postgresql)")
    ask(page, follow)
    wait_finished(page)
    system = next(r for r in llm.requests if follow in str(r["messages"][-1]))["messages"][0]["content"]
    assert f"Question: {question}\nSQL: {COUNT_SQL}" in system
