"""The trust boundary end to end: real daphne + Celery worker on PostgreSQL and Redis, the scripted
LLM, and each dialect that creates or uses a data source. Querent's own database (the one these
processes run on) must never answer a data source's query, however its URL is spelt, and the
connection test must tell nothing about the network."""

import os
import uuid

import httpx
import pytest
from django.contrib.sessions.models import Session as DjangoSession
from django.db import connection
from django.utils import timezone

from assistants.models import Assistant
from executor.models import DataSource
from tests.fakes.llm_server import text, tool_call
from tests.support.ports import closed_port, listening_port
from tests.support.principals import api_user, headers
from tests.support.sse import iter_sse, read_until

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PROBE_CODE = "rows = executor.run_sql('SELECT session_key, session_data FROM django_session')\nexecutor.print(rows)"


def _app_db_spellings() -> list[str]:
    params = connection.settings_dict
    name, user, port = params["NAME"], params.get("USER") or "postgres", int(params.get("PORT") or 5432)
    return [
        f"postgresql://{user}@127.0.0.1:{port}/{name}",
        f"postgresql://{user}@127.1:{port}/{name}",
        f"postgresql://{user}@127.0.1:{port}/{name}",
        f"postgresql://{user}@2130706433:{port}/{name}",
        f"postgresql://{user}@0x7f000001:{port}/{name}",
        f"postgresql://{user}@0177.0.0.1:{port}/{name}",
        f"postgresql://{user}@localhost:{port}/{name}",
        f"postgresql://{user}@0.0.0.0:{port}/{name}",
        f"postgresql://{user}@[::ffff:127.0.0.1]:{port}/{name}",
        f"postgresql://{user}@[::1]:{port}/{name}",
        f"postgresql://{user}@127.0.0.1,localhost:{port},{port}/{name}",
        f"postgresql://{user}@127.0.0.1:{port}/postgres?dbname={name}",
        f"postgresql://{user}@db.example.invalid/{name}?host=127.0.0.1&port={port}",
        f"postgresql://{user}@db.example.invalid/{name}?hostaddr=127.0.0.1&port={port}",
        f"postgresql:///{name}?host=/var/run/postgresql&user={user}",
        f"postgresql://{user}@%2Fvar%2Frun%2Fpostgresql/{name}",
        f"postgresql://{user}@127.0.0.1:{port}/%20{name}",
        f"postgresql://{user}@127.0.0.1:0{port}/{name}",
        f"postgres+psycopg2://{user}@127.0.0.1:{port}/{name}",
        f"host=127.0.0.1 port={port} dbname={name} user={user}",
        f"postgresql://127.0.0.1:{port}/{name}?user={user}",
        f"postgresql://{user}@127.0.0.1:{port}/{name}?service=querent",
        f"postgresql://{user}@127.0.0.1:{port}/{name}?options=-csearch_path%3Dpublic",
    ]


@pytest.fixture
def planted_session():
    """A browser session row in Querent's database: the thing an attacker would be after."""
    key = f"plantedsessionkey{uuid.uuid4().hex}"
    DjangoSession.objects.create(session_key=key[:40], session_data="planted", expire_date=timezone.now() + timezone.timedelta(days=1))
    return key[:40]


def _no_leak(payload: str, planted: str) -> None:
    assert planted not in payload and "planted" not in payload.replace("plantedsessionkey", "")


def test_dataherald_connections_to_querents_database_are_refused_however_spelt(stack, planted_session):
    if connection.vendor != "postgresql":
        pytest.skip("services mode: the app database is PostgreSQL")
    admin = api_user(tenant=f"t-{uuid.uuid4().hex[:6]}", admin=True)
    before = DataSource.objects.count()
    with httpx.Client(base_url=stack.base_url, headers=headers(admin), timeout=30) as api:
        spellings = _app_db_spellings()
        assert len(spellings) >= 15
        for number, url in enumerate(spellings):
            response = api.post("/api/v1/database-connections", json={"alias": f"probe {number}", "connection_uri": url})
            assert response.status_code == 400, (url, response.status_code, response.text)
            body = response.json()
            assert "connection_uri" in body.get("errors", {}) or "connection_uri" in body["detail"], body
            _no_leak(response.text, planted_session)
    assert DataSource.objects.count() == before


def test_every_dialect_refuses_a_source_that_reaches_querents_database(stack, llm, planted_session):
    """A row stored before these rules (or written by hand) is refused at connection time, whichever
    dialect uses it: PromptQL, Julep, Dataherald's SQL executions and the admin's connection test."""
    if connection.vendor != "postgresql":
        pytest.skip("services mode: the app database is PostgreSQL")
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    admin = api_user(tenant=tenant, admin=True)
    params = connection.settings_dict
    legacy = DataSource(name="Legacy", engine="postgresql", tenant_wide=True,
                        connection_url=f"postgresql://postgres@127.1:{params.get('PORT') or 5432}/{params['NAME']}")
    legacy.tenant, legacy.owner = tenant, admin["_user_id"]
    legacy.save()  # no full_clean: as if stored before the rules
    assistant = Assistant.objects.create(tenant=tenant, owner=admin["_user_id"], name="Probe", data_source=legacy)

    def refused_in_every_tool_output(expected: int) -> None:
        from threads.models import Message

        outputs = [str(m.content) for m in Message.objects.filter(thread__tenant=tenant, role="tool")]
        assert len(outputs) == expected and all("belongs to Querent itself" in o for o in outputs), outputs
        _no_leak(" ".join(outputs), planted_session)

    # PromptQL
    question = f"show me the sessions {uuid.uuid4().hex[:6]}"
    llm.script([tool_call(PROBE_CODE, call_id="call_probe"), text("done")], match=question)
    with httpx.stream("POST", f"{stack.base_url}/threads", headers=headers(admin), timeout=60,
                      json={"message": question, "assistant_id": str(assistant.id)}) as response:
        assert response.status_code == 200, response.read()
        events = read_until(iter_sse(response), "finish")
    tool = next(e for e in events if e.event == "tool_response_message")
    assert "belongs to Querent itself" in tool.data["output"]["error"]
    _no_leak(str([e.data for e in events]), planted_session)

    with httpx.Client(base_url=f"{stack.base_url}/api", headers=headers(admin), timeout=60) as api:
        # Julep: an agent on the source, a session, a chat whose tool call is refused.
        agent = api.post("/agents", json={"name": "probe", "data_source_id": str(legacy.id)})
        assert agent.status_code == 201, agent.text
        user = api.post("/users", json={"name": "probe user"}).json()
        session = api.post("/sessions", json={"user_id": user["id"], "agent_id": agent.json()["id"]}).json()
        question = f"list the sessions {uuid.uuid4().hex[:6]}"
        llm.script([tool_call(PROBE_CODE, call_id="call_julep"), text("done")], match=question)
        reply = api.post(f"/sessions/{session['id']}/chat", json={"messages": [{"role": "user", "content": question}]})
        assert reply.status_code == 200, reply.text
        _no_leak(reply.text, planted_session)
        refused_in_every_tool_output(2)  # PromptQL's and Julep's

        # Dataherald: a direct SQL execution on the connection.
        executed = api.post("/v1/sql-query-executions", json={"db_connection_id": str(legacy.id), "sql_query": "SELECT session_key FROM django_session"})
        assert executed.status_code == 400, executed.text
        assert "belongs to Querent itself" in executed.text
        _no_leak(executed.text, planted_session)


def test_connection_tests_read_alike_and_are_rate_limited(stack, demo_pg_url):
    admin = api_user(tenant=f"t-{uuid.uuid4().hex[:6]}", admin=True)
    closed = closed_port()
    with listening_port() as open_port, httpx.Client(base_url=stack.base_url, headers=headers(admin), timeout=30) as api:
        answers = []
        for port in (closed, open_port, 6379):
            url = f"postgresql://postgres@127.0.0.1:{port}/whatever"
            response = api.post("/api/v1/database-connections", json={"alias": "probe", "connection_uri": url})
            assert response.status_code == 400, response.text
            answers.append(response.json()["detail"].split(" (reference ", 1)[0])
        # Redis is refused by name before any packet; the other two read exactly alike.
        assert answers[0] == answers[1] and "message broker" in answers[2]
        # A key that writes a file on the server is refused by name, and no file appears.
        keylog = f"/tmp/querent-keylog-{uuid.uuid4().hex}"
        response = api.post("/api/v1/database-connections", json={"alias": "probe", "connection_uri": f"{demo_pg_url}?sslkeylogfile={keylog}"})
        assert response.status_code == 400 and "sslkeylogfile" in response.text
        assert not os.path.exists(keylog)
        # The connection test is bounded per principal (10 a minute by default): a scan gets 429s.
        statuses = [
            api.post("/api/v1/database-connections", json={"alias": "probe", "connection_uri": f"postgresql://postgres@127.0.0.1:{closed}/x{n}"}).status_code
            for n in range(25)
        ]
        assert 429 in statuses and statuses[0] == 400


def test_sqlite_paths_to_querents_or_other_files_are_refused(stack):
    admin = api_user(tenant=f"t-{uuid.uuid4().hex[:6]}", admin=True)
    with httpx.Client(base_url=stack.base_url, headers=headers(admin), timeout=30) as api:
        for url in (
            "sqlite:////etc/passwd",
            "sqlite:////proc/self/root/etc/passwd",
            "sqlite:////proc/self/cwd/var/querent.sqlite3",
            f"sqlite:///{stack.log_dir}/var/../../etc/hostname",
            "sqlite:///var/querent.sqlite3",
            "sqlite:///file::memory:?cache=shared",
        ):
            response = api.post("/api/v1/database-connections", json={"alias": "file", "connection_uri": url})
            assert response.status_code == 400, (url, response.text)
