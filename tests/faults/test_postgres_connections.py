"""PostgreSQL drops every connection (a failover, a restart, an idle-session killer): nobody notices.

The web process and the worker hold pooled connections; after they are terminated server-side,
the next request and the next run must borrow fresh ones instead of failing on a dead socket.
"""

import uuid

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

# Only the test database's own backends are terminated; the server itself is never restarted.
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True), pytest.mark.requires_postgres]


def terminate_connections(database: str) -> int:
    """Kill the backends the live processes hold on `database`, as a failover does.

    The test's own connection is spared: pytest-django needs it to clean up afterwards.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (ours,) = cursor.fetchone()
    db = settings.DATABASES["default"]
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres",
                         dbname="postgres", autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid NOT IN (pg_backend_pid(), %s)",
            [database, ours],
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def ask(stack, user, question) -> list:
    with httpx.stream("POST", f"{stack.base_url}/threads", json={"message": question}, headers=headers(user), timeout=90) as response:
        assert response.status_code == 200
        return read_until(iter_sse(response), "finish")


def test_web_and_worker_reconnect_after_postgres_drops_their_connections(stack, llm, tenant_demo):
    user = api_user()
    warm = f"warm the pools {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("executor.print(len(await executor.run_sql('SELECT 1 AS one')))"), text("Warm.")], match=warm)
    assert ask(stack, user, warm)[-1].event == "finish"

    assert terminate_connections(settings.DATABASES["default"]["NAME"]) > 0

    # Reads and writes through the web process work at once, with no 5xx on the way.
    listed = httpx.get(f"{stack.base_url}/threads", headers=headers(user), timeout=30)
    assert listed.status_code == 200 and len(listed.json()) == 1
    # A full run (worker: claim, LLM, sandbox SQL on the user's database, events) goes through too.
    again = f"after the failover {uuid.uuid4().hex[:6]}"
    llm.script([tool_call("rows = await executor.run_sql('SELECT COUNT(*) AS n FROM artist')\nexecutor.print(rows)"),
                text("Still counting.")], match=again)
    events = ask(stack, user, again)
    kinds = [e.event for e in events]
    assert kinds == ["start", "assistant_response_message", "tool_response_message", "assistant_response_message", "finish"]
    assert events[2].data["output"]["error"] is None
    assert "SQL statement returned 1 rows" in events[2].data["output"]["output"]
