"""The chat page's own document upload, in a real browser against real daphne + Celery worker:
a PDF attached to the open conversation is parsed and listed, and the next question's retrieval
tool call sends the model the passage that holds the answer."""

import json
import uuid

import pytest

from tests.fakes.llm_server import text, tool_call
from tests.support.documents import DOOR_PASSAGE, SECURITY, pdf_bytes

from .chat import ask, sign_in_with_password, thread_id, wait_finished

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def person(django_user_model):
    username = f"doc-{uuid.uuid4().hex[:6]}"
    django_user_model.objects.create_user(username, password=PASSWORD)
    return username


def test_attach_a_pdf_then_the_answer_uses_its_passage(stack, llm, person, new_page, screenshot, tmp_path):
    page = new_page()
    sign_in_with_password(page, stack.base_url, person, PASSWORD)
    first = f"Hello there [{uuid.uuid4().hex[:8]}]"
    llm.script([text("Hello! Ask me about your data or attach documents.")], match=first)
    ask(page, first)
    wait_finished(page)

    # A file that is not a document is refused with the reason, and nothing is listed.
    bad = tmp_path / "photo.bin"
    bad.write_bytes(b"\x00\x01\x02\x03 binary")
    page.set_input_files("#document-files", str(bad))
    page.locator("#document-status.error-text", has_text="binary").wait_for()
    assert page.locator("#document-list .document-item").count() == 0

    policy = tmp_path / "security-policy.pdf"
    policy.write_bytes(pdf_bytes(SECURITY))
    page.set_input_files("#document-files", str(policy))
    page.locator("#document-list .document-item", has_text="security-policy.pdf").wait_for()
    assert "Attached 1 document" in page.inner_text("#document-status")
    screenshot(page, "documents-01-attached")

    question = f"What is the door code of the Leeds loading dock? [{uuid.uuid4().hex[:8]}]"
    llm.script([
        tool_call(name="retrieval", arguments=json.dumps({"query": "Leeds loading dock door code"}), call_id="call_doc"),
        text("The loading dock's door code is **4417** (from security-policy.pdf)."),
    ], match=question)
    ask(page, question)
    wait_finished(page, count=2)
    assert "4417" in page.locator(".step.assistant").last.inner_text()
    assert "documents" in page.locator(".tool-call summary").last.inner_text().lower()  # the look-up, not shown as Python
    first_call, second_call = [r for r in llm.requests if any(question in (m.get("content") or "") for m in r["messages"])][-2:]
    assert {t["function"]["name"] for t in first_call["tools"]} == {"execute_python", "retrieval"}  # documents add retrieval
    tool_message = next(m for m in second_call["messages"] if m.get("tool_call_id") == "call_doc")
    assert DOOR_PASSAGE in tool_message["content"] and "security-policy.pdf" in tool_message["content"]
    events = page.request.get(f"{stack.base_url}/threads/{thread_id(page)}/events?after=0&events=all").json()
    retrieval = [e for e in events["events"] if e["event"] == "retrieval"]
    assert retrieval and "4417" in retrieval[0]["data"]["passages"][0]["text"]
    screenshot(page, "documents-02-answer")
