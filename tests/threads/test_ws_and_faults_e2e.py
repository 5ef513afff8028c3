"""Websocket chat, cancellation, confirmation timeout and a worker killed mid-run, on real processes."""

import json
import time
import uuid

import httpx
import pytest
from websockets.sync.client import connect

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

REFUND_CODE = "rows = await executor.run_sql('SELECT issue_credit(7, 5.00) AS credit_id')\nexecutor.print(rows)"


def ws_events(ws, stop: str, timeout: float = 60) -> list[dict]:
    received, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        received.append(message)
        if message.get("event") == stop:
            return received
    raise AssertionError(f"no {stop!r} within {timeout}s: {received}")


def token_of(user) -> str:
    return user["Authorization"].split(" ", 1)[1]


def test_websocket_flow_with_confirmation_and_resume(stack, llm, tenant_demo):
    user = api_user()
    question = f"refund customer 7 five dollars {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(REFUND_CODE, call_id="call_ws"), text("Refund issued.", chunks=3)], match=question)
    with connect(f"{stack.ws_url}/ws/threads/?token={token_of(user)}", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "message", "message": question}))
        first = ws_events(ws, "user_confirmation")
        control = [m for m in first if "type" in m]
        events = [m for m in first if "event" in m]
        thread_id = next(m["thread_id"] for m in control if m["type"] == "thread")
        assert [e["event"] for e in events if e["event"] != "assistant_delta"] == ["start", "assistant_response_message", "user_confirmation"]
        confirmation_id = events[-1]["data"]["confirmation_id"]
        last_seq = events[-1]["seq"]

    # Reconnect to the thread after the last seq we saw, approve over the socket, follow to the end.
    with connect(f"{stack.ws_url}/ws/threads/{thread_id}/?after={last_seq}&token={token_of(user)}", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "confirm", "confirmation_id": confirmation_id, "confirm": True}))
        rest = ws_events(ws, "finish")
    rest_events = [m for m in rest if "event" in m]
    seqs = [e["seq"] for e in rest_events]
    assert seqs == list(range(last_seq + 1, last_seq + 1 + len(seqs)))  # nothing lost, nothing twice
    kinds = [e["event"] for e in rest_events]
    assert kinds[0] == "confirmation_decided" and "tool_response_message" in kinds and kinds[-1] == "finish"
    deltas = "".join(e["data"]["text"] for e in rest_events if e["event"] == "assistant_delta")
    final = next(e["data"]["text"] for e in rest_events if e["event"] == "assistant_response_message" and not e["data"]["tool_calls"])
    assert deltas and final == "Refund issued." and final.startswith(deltas)
    assert {"type": "ack", "of": "confirm"} in [m for m in rest if m.get("type") == "ack"]


def test_websocket_rejects_bad_credentials_and_foreign_threads(stack, llm, tenant_demo):
    owner, intruder = api_user(), api_user()
    question = f"hi {uuid.uuid4().hex[:6]}"
    llm.script([text("hello")], match=question)
    thread_id = httpx.post(f"{stack.base_url}/threads", json={"message": question, "stream": False}, headers=headers(owner), timeout=30).json()["thread_id"]
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    for url in (f"{stack.ws_url}/ws/threads/{thread_id}/?token={token_of(intruder)}", f"{stack.ws_url}/ws/threads/?token=qk_bad_bad"):
        with pytest.raises((ConnectionClosed, InvalidStatus)):
            with connect(url, open_timeout=10) as ws:
                ws.recv(timeout=5)
    last_seq = httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=headers(owner), timeout=10).json()["last_seq"]
    with connect(f"{stack.ws_url}/ws/threads/{thread_id}/?after={last_seq}&token={token_of(owner)}", open_timeout=10) as ws:
        ws.send("not json")
        assert json.loads(ws.recv(timeout=10)) == {"type": "error", "message": "messages must be JSON objects"}
        ws.send(json.dumps({"type": "explode"}))
        reply = json.loads(ws.recv(timeout=10))
        assert reply["type"] == "error" and "unknown type 'explode'" in reply["message"]
        ws.send(json.dumps({"type": "confirm", "confirmation_id": str(uuid.uuid4()), "confirm": True}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "error", "message": "confirmation not found on this thread"}


def test_cancel_a_waiting_run(stack, llm, tenant_demo):
    user = api_user()
    question = f"refund to cancel {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(REFUND_CODE)], match=question)
    with httpx.stream("POST", f"{stack.base_url}/threads", json={"message": question}, headers=headers(user), timeout=60) as response:
        events = iter_sse(response)
        before = read_until(events, "user_confirmation")
        thread_id = before[0].data["thread_id"]
        cancelled = httpx.post(f"{stack.base_url}/threads/{thread_id}/cancel", headers=headers(user), timeout=10)
        assert cancelled.status_code == 200
        # the reply says how the run ended, not that it was waiting for approval when asked
        assert [(r["status"], r["cancel_requested"]) for r in cancelled.json()["cancelled"]] == [("cancelled", True)]
        after = read_until(events, "finish")
    assert [e.event for e in after] == ["tool_response_message", "finish"]
    assert "cancelled" in after[0].data["output"]["error"]
    detail = httpx.get(f"{stack.base_url}/threads/{thread_id}", headers=headers(user), timeout=10).json()
    assert detail["runs"][0]["status"] == "cancelled"
    assert [c["status"] for c in detail["confirmations"]] == ["CANCELLED"]
    assert httpx.post(f"{stack.base_url}/threads/{thread_id}/cancel", headers=headers(user), timeout=10).status_code == 404


@pytest.fixture(scope="module")
def fast_stack(stack_factory, scripted_llm):
    """A second stack with short timeouts so faults show within seconds. Stopped with this module:
    its reaper shares the test database and would take any other stack's run that waits longer
    than 3 s between heartbeats (10 s there) for a lost one."""
    fast = stack_factory(
        {"QUERENT_CONFIRMATION_TIMEOUT": "2", "QUERENT_RUN_STALE_AFTER": "3", "QUERENT_HEARTBEAT_INTERVAL": "0.5"},
        llm_base_url=scripted_llm.base_url,
    )
    yield fast
    fast.stop()


def test_confirmation_times_out(fast_stack, llm, tenant_demo):
    user = api_user()
    question = f"refund that nobody approves {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(REFUND_CODE), text("Nobody approved it, so nothing changed.")], match=question)
    with httpx.stream("POST", f"{fast_stack.base_url}/threads", json={"message": question}, headers=headers(user), timeout=60) as response:
        events = read_until(iter_sse(response), "finish")
    kinds = [e.event for e in events]
    assert kinds == ["start", "assistant_response_message", "user_confirmation", "tool_response_message", "assistant_response_message", "finish"]
    assert "within 2 seconds" in events[3].data["output"]["error"]
    detail = httpx.get(f"{fast_stack.base_url}/threads/{events[0].data['thread_id']}", headers=headers(user), timeout=10).json()
    assert [c["status"] for c in detail["confirmations"]] == ["TIMED_OUT"]
    late = httpx.post(
        f"{fast_stack.base_url}/threads/{events[0].data['thread_id']}/user_confirmation",
        json={"confirmation_id": events[2].data["confirmation_id"], "confirm": True}, headers=headers(user), timeout=10,
    )
    assert late.status_code == 409


def test_worker_killed_mid_run_is_retried_on_another_worker(fast_stack, llm, tenant_demo):
    user = api_user()
    question = f"refund then crash {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(REFUND_CODE, call_id="call_crash"), text("The previous attempt was interrupted; nothing was changed.")], match=question)
    with httpx.stream("POST", f"{fast_stack.base_url}/threads", json={"message": question}, headers=headers(user), timeout=90) as response:
        events = iter_sse(response)
        before = read_until(events, "user_confirmation")
        victim = fast_stack.workers[0]
        fast_stack.kill_worker(victim)
        fast_stack.start_worker()
        after = read_until(events, "finish")
    seen = before + after
    ids = [e.id for e in seen]
    assert ids == sorted(set(ids))
    kinds = [e.event for e in after]
    assert kinds == ["tool_response_message", "assistant_response_message", "finish"]
    assert "stopped before it finished" in after[0].data["output"]["error"]
    thread_id = before[0].data["thread_id"]
    full = httpx.get(f"{fast_stack.base_url}/threads/{thread_id}/events?after=0&events=all", headers=headers(user), timeout=10).json()
    all_kinds = [e["event"] for e in full["events"]]
    assert "run_retry" in all_kinds
    assert [e["id"] for e in full["events"]] == list(range(1, len(full["events"]) + 1))
    detail = httpx.get(f"{fast_stack.base_url}/threads/{thread_id}", headers=headers(user), timeout=10).json()
    assert detail["runs"][0]["status"] == "completed" and detail["runs"][0]["attempts"] == 2
    assert [c["status"] for c in detail["confirmations"]] == ["CANCELLED"]
