"""SIGTERM, as a deploy sends it: runs in flight finish or are handed over, streams resume elsewhere.

Each test stops a process of a stack of its own module and starts its replacement, the way a
rolling restart does, and then checks the whole event log: nothing lost, nothing doubled.
"""

import uuid

import httpx
import pytest

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUND_CODE = "rows = await executor.run_sql('SELECT issue_credit(11, 2.00) AS credit_id')\nexecutor.print(rows)"


@pytest.fixture(scope="module")
def rolling(stack_factory, scripted_llm):
    return stack_factory({"QUERENT_HEARTBEAT_INTERVAL": "0.5"}, llm_base_url=scripted_llm.base_url)


def full_log(stack, user, thread_id) -> list[dict]:
    url = f"{stack.base_url}/threads/{thread_id}/events?after=0&events=all"
    return httpx.get(url, headers=headers(user), timeout=10).json()["events"]


def thread_detail(stack, user, thread_id) -> dict:
    return httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=headers(user), timeout=10).json()


def test_worker_sigterm_hands_over_a_run_waiting_for_approval(rolling, llm, tenant_demo):
    user, question = api_user(), f"refund during a deploy {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(REFUND_CODE, call_id="call_deploy"), text("The refund was interrupted by a restart; nothing changed.")], match=question)
    with httpx.stream("POST", f"{rolling.base_url}/threads", json={"message": question}, headers=headers(user), timeout=90) as response:
        events = iter_sse(response)
        before = read_until(events, "user_confirmation")
        leaving = rolling.workers[-1]
        rolling.start_worker()  # the replacement, as in a rolling restart
        exit_code = rolling.stop_process(leaving)  # warm shutdown: must not wait out the 300 s approval
        after = read_until(events, "finish")
    assert exit_code == 0
    assert [e.event for e in after] == ["tool_response_message", "assistant_response_message", "finish"]
    assert "stopped before it finished" in after[0].data["output"]["error"]

    thread_id = before[0].data["thread_id"]
    log = full_log(rolling, user, thread_id)
    assert [e["id"] for e in log] == list(range(1, len(log) + 1))
    kinds = [e["event"] for e in log]
    handover = kinds.index("run_retry")
    assert kinds[handover - 1] == "confirmation_decided" and log[handover - 1]["data"]["status"] == "CANCELLED"
    assert log[handover]["data"]["reason"] == "worker shutting down"
    detail = thread_detail(rolling, user, thread_id)
    assert detail["runs"][0]["status"] == "completed" and detail["runs"][0]["attempts"] == 2
    assert [c["status"] for c in detail["confirmations"]] == ["CANCELLED"]
    # The approval that nobody waits for any more is refused, not silently accepted.
    late = httpx.post(
        f"{rolling.base_url}/threads/{thread_id}/user_confirmation",
        json={"confirmation_id": before[-1].data["confirmation_id"], "confirm": True}, headers=headers(user), timeout=10,
    )
    assert late.status_code == 409


def test_worker_sigterm_lets_a_streaming_answer_finish(rolling, llm, tenant_demo):
    user, question = api_user(), f"slow answer during a deploy {uuid.uuid4().hex[:6]}"
    answer = "This answer streams slowly, one piece at a time, while the worker is asked to stop."
    llm.script([text(answer, chunks=12, token_delay=0.25)], match=question)
    url = f"{rolling.base_url}/threads?events=all"
    with httpx.stream("POST", url, json={"message": question}, headers=headers(user), timeout=90) as response:
        events = iter_sse(response)
        before = read_until(events, "assistant_delta")
        leaving = rolling.workers[-1]
        rolling.start_worker()
        exit_code = rolling.stop_process(leaving)  # returns once the run has finished on this worker
        after = read_until(events, "finish")
    assert exit_code == 0
    assert after[-2].event == "assistant_response_message" and after[-2].data["text"] == answer
    assert "run_retry" not in [e.event for e in before + after]
    detail = thread_detail(rolling, user, before[0].data["thread_id"])
    assert detail["runs"][0]["status"] == "completed" and detail["runs"][0]["attempts"] == 1


def test_web_sigterm_ends_streams_and_clients_resume_on_the_next_process(rolling, llm, tenant_demo):
    user, question = api_user(), f"refund across a web restart {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(REFUND_CODE, call_id="call_web"), text("Credit issued.")], match=question)
    seen = []
    with httpx.stream("POST", f"{rolling.base_url}/threads", json={"message": question}, headers=headers(user), timeout=90) as response:
        events = iter_sse(response)
        seen += read_until(events, "user_confirmation")
        exit_code = rolling.stop_process(rolling.web)
        try:
            seen += list(events)  # whatever was in flight, then the end of the stream
        except httpx.HTTPError:
            pass  # the connection closed under the reader: what a browser sees too
    assert exit_code == 0
    rolling.start_web()
    rolling.wait_ready()

    thread_id = seen[0].data["thread_id"]
    decided = httpx.post(
        f"{rolling.base_url}/threads/{thread_id}/user_confirmation",
        json={"confirmation_id": seen[-1].data["confirmation_id"], "confirm": True}, headers=headers(user), timeout=10,
    )
    assert decided.status_code == 200
    resume = {**headers(user), "Accept": "text/event-stream", "Last-Event-ID": str(seen[-1].id)}
    with httpx.stream("GET", f"{rolling.base_url}/threads/{thread_id}/events", headers=resume, timeout=60) as response:
        rest = read_until(iter_sse(response), "finish")
    assert [e.event for e in rest] == ["tool_response_message", "assistant_response_message", "finish"]
    assert rest[0].data["output"]["error"] is None
    delivered = [e.id for e in seen + rest]
    assert delivered == sorted(set(delivered))
    promptql = httpx.get(f"{rolling.base_url}/threads/{thread_id}/events?after=0", headers=headers(user), timeout=10).json()["events"]
    assert [e["id"] for e in promptql] == delivered  # everything the client should see, once
