"""Redis restarts while a run waits for approval: the stream falls back to the event log and goes on.

The test starts a Redis of its own on a free port (the machine's shared Redis is never touched),
points a stack at it, and restarts that one.
"""

import shutil
import subprocess
import time
import uuid

import httpx
import pytest
import redis

from tests.fakes.llm_server import text, tool_call
from tests.fixtures.stack import free_port
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.requires_redis,  # a Redis broker and wake-ups across a restart: the embedded pass has neither
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary to run a Redis of its own"),
]


class PrivateRedis:
    """A throw-away redis-server (no persistence) this test may stop and start at will."""

    def __init__(self, directory):
        self.port = free_port()
        self.directory = directory
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")],
            check=True, timeout=30,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("the private Redis did not start")

    def stop(self) -> None:
        try:
            self.client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # shutting down closes our connection: expected
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                self.client.ping()
                time.sleep(0.1)
            except redis.ConnectionError:
                return

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def stack(stack_factory, scripted_llm, private_redis):
    stack = stack_factory({"REDIS_URL": private_redis.url}, llm_base_url=scripted_llm.base_url)
    yield stack
    stack.stop()  # before its Redis goes away


def test_stream_survives_a_redis_restart(stack, llm, tenant_demo, private_redis):
    user = api_user()
    question = f"refund across a restart {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("rows = await executor.run_sql('SELECT issue_credit(9, 3.00) AS credit_id')\nexecutor.print(rows)"),
                text("Done, despite the hiccup.")], match=question)
    with httpx.stream("POST", f"{stack.base_url}/threads?events=all", json={"message": question}, headers=headers(user), timeout=120) as response:
        events = iter_sse(response)
        before = read_until(events, "user_confirmation")
        thread_id = before[0].data["thread_id"]
        private_redis.restart()
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
