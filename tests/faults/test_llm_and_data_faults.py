"""Faults of the model and of the user's database become events the client sees; nothing hangs."""

import uuid

import httpx
import pytest

from executor.models import DataSource
from tests.fakes.llm_server import error, hang, malformed_tool_call, text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def ask(stack, user, question, *, all_events=True, stop="finish"):
    url = f"{stack.base_url}/threads" + ("?events=all" if all_events else "")
    with httpx.stream("POST", url, json={"message": question}, headers=headers(user), timeout=90) as response:
        return read_until(iter_sse(response), stop)


def test_rate_limited_then_served(stack, llm, tenant_demo):
    user, question = api_user(), f"retry me {uuid.uuid4().hex[:6]}"
    llm.script([error(429, "Rate limit reached", headers={"Retry-After": "0.2"}), text("Served after a retry.")], match=question)
    events = ask(stack, user, question)
    kinds = [e.event for e in events]
    assert kinds[0] == "start" and "llm_retry" in kinds and kinds[-2:] == ["assistant_response_message", "finish"]
    assert events[-2].data["text"] == "Served after a retry."
    ids = [e.id for e in events]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # ?events=all: every event, in order, once


def test_server_errors_exhaust_retries_into_an_error_event(stack, llm, tenant_demo):
    user, question = api_user(), f"always 500 {uuid.uuid4().hex[:6]}"
    llm.script([error(500, "upstream exploded"), error(502, "bad gateway"), error(503, "unavailable")], match=question)
    events = ask(stack, user, question, all_events=False, stop="error")
    assert [e.event for e in events] == ["start", "error"]
    assert "language model failed" in events[-1].data["message"]


def test_hanging_model_times_out_into_an_error_event(stack_factory, scripted_llm, llm, tenant_demo):
    quick = stack_factory({"QUERENT_LLM_TIMEOUT": "1", "QUERENT_LLM_MAX_RETRIES": "0"}, llm_base_url=scripted_llm.base_url)
    user, question = api_user(), f"hang forever {uuid.uuid4().hex[:6]}"
    llm.script([hang(30)], match=question)
    events = ask(quick, user, question, all_events=False, stop="error")
    assert [e.event for e in events] == ["start", "error"]
    assert "did not respond within 1 s" in events[-1].data["message"]


def test_malformed_tool_call_json_is_a_tool_error_the_model_sees(stack, llm, tenant_demo):
    user, question = api_user(), f"broken json {uuid.uuid4().hex[:6]}"
    llm.script([malformed_tool_call(call_id="call_bad"), text("Sorry, my tool call was malformed.")], match=question)
    events = ask(stack, user, question, all_events=False)
    assert [e.event for e in events] == ["start", "assistant_response_message", "tool_response_message", "assistant_response_message", "finish"]
    assert events[1].data["tool_calls"][0]["input"] == {"raw_arguments": '{"python_code": "executor.print(1)"'}
    assert "not valid" in events[2].data["output"]["error"]
    assert "not valid" in llm.requests[-1]["messages"][-1]["content"]


def test_data_source_down_is_a_tool_error_not_a_crash(stack, llm, tenant_demo):
    user, question = api_user(), f"db down {uuid.uuid4().hex[:6]}"
    tenant_demo.engine = "postgresql"  # (the embedded pass's demo copy is SQLite)
    tenant_demo.connection_url = "postgresql://postgres@127.0.0.1:1/nowhere"  # nothing listens on port 1
    tenant_demo.save()
    llm.script([tool_call("executor.print(executor.run_sql('SELECT 1 AS one'))"), text("The database is unreachable right now.")], match=question)
    events = ask(stack, user, question, all_events=False)
    assert [e.event for e in events][-3:] == ["tool_response_message", "assistant_response_message", "finish"]
    error_text = events[-3].data["output"]["error"]
    assert "could not connect to data source" in error_text
    assert "password" not in error_text.lower()


def test_sandbox_crash_is_a_tool_error_and_the_next_run_works(stack, llm, tenant_demo):
    user = api_user()
    crash, after = f"crash {uuid.uuid4().hex[:6]}", f"after {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("import os\nos.kill(os.getpid(), 9)"), text("That code crashed.")], match=crash)
    llm.script([tool_call("executor.print(6 * 7)"), text("42")], match=after)
    events = ask(stack, user, crash, all_events=False)
    assert "stopped" in events[2].data["output"]["error"]
    events = ask(stack, user, after, all_events=False)
    assert events[2].data["output"]["output"] == "42\n" and events[2].data["output"]["error"] is None
