"""Redis restarts while a run waits for approval: the stream falls back to the event log and goes on.

This restarts the machine's Redis (the one the test suite uses), so it runs only where the
`redis-server` binary is at hand and the suite owns the server (CI, a developer machine).
"""

import shutil
import subprocess
import time
import uuid

import httpx
import pytest
import redis

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary to restart Redis"),
]

REDIS = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
# The command the machines of this project start Redis with (no persistence, like production caches).
START = ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
         "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"]


def restart_redis() -> None:
    try:
        REDIS.shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # shutting down closes our connection: expected
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            REDIS.ping()
            time.sleep(0.1)
        except redis.ConnectionError:
            break
    subprocess.run(START, check=True, timeout=30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if REDIS.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("Redis did not come back")


def test_stream_survives_a_redis_restart(stack, llm, shared_demo):
    user = api_user()
    question = f"refund across a restart {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("rows = await executor.run_sql('SELECT issue_credit(9, 3.00) AS credit_id')\nexecutor.print(rows)"),
                text("Done, despite the hiccup.")], match=question)
    with httpx.stream("POST", f"{stack.base_url}/threads?events=all", json={"message": question}, headers=headers(user), timeout=120) as response:
        events = iter_sse(response)
        before = read_until(events, "user_confirmation")
        thread_id = before[0].data["thread_id"]
        restart_redis()
        decided = httpx.post(
            f"{stack.base_url}/threads/{thread_id}/user_confirmation",
            json={"confirmation_id": before[-1].data["confirmation_id"], "confirm": True}, headers=headers(user), timeout=30,
        )
        assert decided.status_code == 200
        after = read_until(events, "finish")
    ids = [e.id for e in before + after]
    assert ids == list(range(1, len(ids) + 1))  # every event of the log, once, in order
    kinds = [e.event for e in after]
    assert "tool_response_message" in kinds and kinds[-2:] == ["assistant_response_message", "finish"]
    tool = next(e for e in after if e.event == "tool_response_message")
    assert tool.data["output"]["error"] is None

    # The worker is still consuming after the restart: a new run goes through end to end.
    again = f"after the restart {uuid.uuid4().hex[:6]}"
    llm.script([text("Still here.")], match=again)
    body = httpx.post(f"{stack.base_url}/threads", json={"message": again, "stream": False}, headers=headers(user), timeout=120).json()
    assert [e["event"] for e in body["events"]] == ["start", "assistant_response_message", "finish"]
