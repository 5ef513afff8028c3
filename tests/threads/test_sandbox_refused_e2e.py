"""A worker in production mode (QUERENT_PRODUCTION=1) on a machine without bubblewrap, started by hand
rather than by `serve --production`: the model's code is not run, the run gets a tool error that says
why, and the run and the worker carry on.

"No bubblewrap" is QUERENT_SANDBOX_BWRAP pointing where there is none.
"""

import uuid

import httpx
import pytest

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PRODUCTION_WITHOUT_BWRAP = {
    "QUERENT_PRODUCTION": "1",
    "QUERENT_SECRET_KEY": "e2e-production-secret-key-long-enough-for-production",
    "QUERENT_SANDBOX_BWRAP": "/nonexistent/bwrap",
    "QUERENT_SANDBOX_POOL_SIZE": "1",
}


def test_code_is_refused_as_a_tool_error(stack_factory, llm, tenant_demo):
    stack = stack_factory(PRODUCTION_WITHOUT_BWRAP, llm_base_url=llm.base_url)
    user = api_user()
    question = f"Count the genres {uuid.uuid4().hex[:6]}"
    llm.script([
        tool_call("executor.print(len(executor.run_sql('SELECT id FROM genre')))", call_id="call_refused"),
        text("I could not run code here."),
    ], match=question)

    with httpx.stream("POST", f"{stack.base_url}/threads", json={"message": question}, headers=headers(user), timeout=60) as response:
        assert response.status_code == 200
        events = read_until(iter_sse(response), "finish")

    assert [e.event for e in events] == [
        "start", "assistant_response_message", "tool_response_message", "assistant_response_message", "finish",
    ]
    tool = events[2].data
    assert tool["call_id"] == "call_refused"
    assert tool["output"]["output"] == "" and tool["output"]["sql_statements"] == []
    error = tool["output"]["error"]
    assert error.startswith("the code was not run: the sandbox is unavailable (bubblewrap (`/nonexistent/bwrap`")
    assert "no code runs without bubblewrap" in error and "QUERENT_SANDBOX_ALLOW_UNSAFE_NO_BWRAP=1" in error
    assert "SANDBOX REFUSED" in stack.tail("worker0", lines=400)
    assert stack.workers[0].poll() is None  # the worker is still there
