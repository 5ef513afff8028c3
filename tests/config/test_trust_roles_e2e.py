"""Who may do what with a data source, end to end (DESIGN §9 "Trust model"): real daphne + Celery
worker on PostgreSQL and Redis, the scripted LLM, clients speaking plain HTTP.

- Creating and changing data sources needs the tenant-admin role; `shared` is never set through an API.
- Every use is checked as a data source, for whoever asks: a tenant-wide BI session, a public
  OpenGPTs assistant, a Julep agent or a Dataherald question does not make its data source theirs.
- The shared demo is read-only for every tenant: a write is refused before anyone is asked.
- `tenant_wide` opens a source to the tenant, and closing it again is felt at once.
"""

import json
import uuid

import httpx
import psycopg
import pytest

from executor.models import DataSource
from responses.models import Question
from tests.fakes.llm_server import text, tool_call
from tests.support.principals import api_user, headers
from tests.support.sse import sse_frames
from threads.models import Confirmation, Run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIMEOUT = 120
V1 = "/api/v1"


def call(stack, user, method, path, **kwargs) -> httpx.Response:
    return httpx.request(method, f"{stack.base_url}{path}", headers=headers(user), timeout=TIMEOUT, **kwargs)


def unique(text_: str) -> str:
    return f"{text_} [{uuid.uuid4().hex[:8]}]"


def sse_events(response: httpx.Response) -> list[tuple[str, object]]:
    """(event, parsed data) pairs of an SSE body."""
    return [(event, json.loads(data) if data else None) for event, data in sse_frames(response)]


def create_connection(stack, user, url, **extra) -> httpx.Response:
    return call(stack, user, "POST", f"{V1}/database-connections", json={"alias": "chinook", "connection_uri": url, **extra})


def own_assistant(stack, user, data_source_id, *, public=False) -> str:
    created = call(stack, user, "POST", "/assistants", json={
        "name": "analyst", "public": public, "config": {"configurable": {"data_source_id": data_source_id}},
    })
    assert created.status_code == 200, created.text
    assert created.json()["data_source_id"] == data_source_id
    return created.json()["assistant_id"]


def artist_name(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT name FROM artist WHERE id = 1").fetchone()[0]


# --- the tenant-admin role -----------------------------------------------------------------


def test_creating_a_connection_needs_the_tenant_admin_role(stack, demo_pg_url):
    member, admin = api_user(), api_user(admin=True)
    refused = create_connection(stack, member, demo_pg_url)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "tenant_admin_required" and "tenant-admin role" in refused.json()["detail"]
    assert not DataSource.objects.exists()

    created = create_connection(stack, admin, demo_pg_url)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["tenant_wide"] is False and body["shared"] is False  # a Dataherald client's connection is private
    source = DataSource.objects.get(pk=body["id"])
    assert (source.tenant, source.owner) == ("acme", admin["_user_id"])

    # Its owner, were they a member, could not change it either; nor can a tenant-mate even see it.
    source.owner = member["_user_id"]
    source.save()
    changed = call(stack, member, "PUT", f"{V1}/database-connections/{source.id}", json={"alias": "renamed"})
    assert changed.status_code == 403 and changed.json()["code"] == "tenant_admin_required"
    assert call(stack, api_user(), "GET", f"{V1}/database-connections/{source.id}").status_code == 404
    source.refresh_from_db()
    assert source.name == "chinook"


def test_shared_is_the_operators_alone(stack, demo_pg_url):
    admin = api_user(admin=True)
    refused = create_connection(stack, admin, demo_pg_url, shared=True)
    assert refused.status_code == 400, refused.text
    assert "shared" in refused.json()["errors"] and "operator" in refused.json()["detail"]
    assert not DataSource.objects.exists()

    created = create_connection(stack, admin, demo_pg_url, shared=False).json()
    again = call(stack, admin, "PUT", f"{V1}/database-connections/{created['id']}", json={"alias": "everyone's", "shared": True})
    assert again.status_code == 400 and "shared" in again.json()["errors"]
    assert DataSource.objects.get(pk=created["id"]).shared is False

    # A shared source (the operator's) is changed by nobody through the API, its row's owner included.
    shared = DataSource.objects.get(pk=created["id"])
    shared.shared = True
    shared.save()
    taken = call(stack, admin, "PUT", f"{V1}/database-connections/{shared.id}", json={"alias": "mine"})
    assert taken.status_code == 403 and "operator" in taken.json()["detail"]


# --- tenant-wide sources, and taking them back ---------------------------------------------


def test_tenant_wide_sources_are_usable_by_tenant_mates_until_closed_again(stack, llm, demo_pg_url):
    admin, mate, outsider = api_user(admin=True), api_user(), api_user(tenant="globex")
    created = create_connection(stack, admin, demo_pg_url, tenant_wide=True)
    assert created.status_code == 201 and created.json()["tenant_wide"] is True
    source_id = created.json()["id"]

    # A tenant-mate lists it, runs SQL on it, asks a question, and builds an assistant and an agent on it.
    assert source_id in [c["id"] for c in call(stack, mate, "GET", f"{V1}/database-connections").json()]
    executed = call(stack, mate, "POST", f"{V1}/sql-query-executions",
                    json={"db_connection_id": source_id, "sql_query": "SELECT name FROM genre WHERE id = 1"})
    assert executed.status_code == 201 and executed.json()[1] == {"result": [["Rock"]]}
    question_text = unique("How many genres?")
    llm.script([text("```sql\nSELECT count(*) AS n FROM genre\n```"), text("There are 25 genres.")], match=question_text)
    asked = call(stack, mate, "POST", f"{V1}/questions", json={"db_connection_id": source_id, "question": question_text})
    assert asked.status_code == 201 and asked.json()["sql_generation_status"] == "VALID", asked.text
    question_id = asked.json()["question_id"]
    assistant_id = own_assistant(stack, mate, source_id)
    agent = call(stack, mate, "POST", "/api/agents", json={"name": "julep analyst", "data_source_id": source_id})
    assert agent.status_code == 201, agent.text
    session = call(stack, mate, "POST", "/api/sessions", json={"agent_id": agent.json()["id"]}).json()["id"]
    # Nobody outside the tenant reaches it, and a member may not change it.
    assert call(stack, outsider, "GET", f"{V1}/database-connections/{source_id}").status_code == 404
    assert call(stack, outsider, "POST", f"{V1}/sql-query-executions",
                json={"db_connection_id": source_id, "sql_query": "SELECT 1"}).status_code == 404
    assert call(stack, mate, "PUT", f"{V1}/database-connections/{source_id}", json={"alias": "x"}).status_code == 403

    # The admin makes it private again: every way the mate had to it is refused, by name, at once.
    closed = call(stack, admin, "PUT", f"{V1}/database-connections/{source_id}", json={"alias": "chinook", "tenant_wide": False})
    assert closed.status_code == 200 and closed.json()["tenant_wide"] is False
    llm.reset()
    assert call(stack, mate, "POST", f"{V1}/sql-query-executions",
                json={"db_connection_id": source_id, "sql_query": "SELECT 1"}).status_code == 404
    response = call(stack, mate, "POST", f"{V1}/responses", json={"question_id": question_id, "sql_query": "SELECT 1"})
    assert response.status_code == 403 and response.json()["code"] == "data_source_unavailable", response.text
    chat = call(stack, mate, "POST", f"/api/sessions/{session}/chat", json={"messages": [{"role": "user", "content": "hi"}]})
    assert chat.status_code == 403 and "not available to you" in chat.json()["detail"], chat.text
    thread = call(stack, mate, "POST", "/threads", json={"name": "t", "assistant_id": assistant_id}).json()["thread_id"]
    with httpx.stream("POST", f"{stack.base_url}/runs/stream", headers=headers(mate), timeout=TIMEOUT, json={
        "thread_id": thread, "input": [{"content": unique("how many tracks"), "type": "human"}],
    }) as streamed:
        events = sse_events(streamed)
    assert [e for e, _ in events] == ["metadata", "error"], events
    assert events[1][1]["status_code"] == 403 and "'chinook'" in events[1][1]["message"]
    assert "not available to you" in events[1][1]["message"]
    assert llm.requests == []  # nothing reached the model, so nothing ran on the database
    assert Question.objects.get(pk=question_id).responses.count() == 1  # only the first answer


# --- a tenant-mate through the owner's session or assistant ---------------------------------


def test_a_tenant_mate_cannot_reach_a_private_source_through_a_tenant_wide_bi_session(stack, llm, demo_pg_url):
    owner, mate = api_user(admin=True), api_user()
    source_id = create_connection(stack, owner, demo_pg_url).json()["id"]
    agent = own_assistant(stack, owner, source_id)
    created = call(stack, owner, "POST", f"{V1}/bi/sessions", json={"user_id": "end-user-1", "agent_id": agent})
    assert created.status_code == 201, created.text
    session = created.json()["session_id"]

    # The session is the tenant's, so the mate sees it; its data source is still the owner's.
    assert call(stack, mate, "GET", f"{V1}/bi/sessions/{session}").status_code == 200
    assert call(stack, mate, "POST", f"{V1}/sql-query-executions",
                json={"db_connection_id": source_id, "sql_query": "SELECT 1"}).status_code == 404
    refused = call(stack, mate, "POST", f"{V1}/bi/sessions/{session}/messages", json={"message": unique("How many customers are there")})
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "data_source_unavailable"
    assert "'chinook'" in refused.json()["detail"] and "not available to you" in refused.json()["detail"]
    suggestions = call(stack, mate, "GET", f"{V1}/bi/sessions/{session}/suggestions")
    assert suggestions.status_code == 403  # the schema is a use of the data source too
    assert llm.requests == [] and not Run.objects.filter(thread__chat_session__id=session).exists()

    # The owner asks in the same session: it runs.
    question = unique("How many customers are there")
    llm.script([tool_call('rows = executor.run_sql("SELECT COUNT(*) AS customers FROM customer")\nexecutor.print(rows)'),
                text("There are 59 customers.")], match=question)
    answered = call(stack, owner, "POST", f"{V1}/bi/sessions/{session}/messages", json={"message": question})
    assert answered.status_code == 200 and answered.json()["success"] is True, answered.text
    assert answered.json()["data"]["rows"] == [{"customers": 59}]


def test_a_public_assistant_does_not_lend_its_owners_private_source(stack, llm, demo_pg_url):
    owner, mate = api_user(admin=True), api_user()
    source_id = create_connection(stack, owner, demo_pg_url).json()["id"]
    assistant = own_assistant(stack, owner, source_id, public=True)
    assert assistant in [a["assistant_id"] for a in call(stack, mate, "GET", "/assistants/public").json()]

    # OpenGPTs: a thread on the public assistant is fine; running on its data source is not.
    thread = call(stack, mate, "POST", "/threads", json={"name": "borrowed", "assistant_id": assistant})
    assert thread.status_code == 200, thread.text
    with httpx.stream("POST", f"{stack.base_url}/runs/stream", headers=headers(mate), timeout=TIMEOUT, json={
        "thread_id": thread.json()["thread_id"], "input": [{"content": unique("list the customers"), "type": "human"}],
    }) as streamed:
        assert streamed.status_code == 200
        events = sse_events(streamed)
    assert [e for e, _ in events] == ["metadata", "error"], events
    assert events[1][1]["status_code"] == 403 and "not available to you" in events[1][1]["message"]

    # PromptQL threads name the assistant too: the same refusal, as an error event with its code.
    body = call(stack, mate, "POST", "/threads", json={"message": unique("list the customers"), "assistant_id": assistant, "stream": False})
    assert body.status_code == 200, body.text
    kinds = [(e["event"], e["data"]) for e in body.json()["events"]]
    assert [k for k, _ in kinds] == ["start", "error"], kinds
    assert kinds[1][1]["code"] == "data_source_unavailable" and "'chinook'" in kinds[1][1]["message"]
    assert llm.requests == []
    failed = Run.objects.filter(thread__owner=mate["_user_id"])
    assert failed.count() == 2 and set(failed.values_list("status", flat=True)) == {Run.Status.FAILED}

    # Its owner runs it.
    question = unique("how many genres")
    llm.script([text("There are 25 genres.")], match=question)
    own = call(stack, owner, "POST", "/threads", json={"message": question, "assistant_id": assistant, "stream": False}).json()
    assert [e["event"] for e in own["events"]] == ["start", "assistant_response_message", "finish"]


# --- the shared demo is read-only ----------------------------------------------------------


def test_the_shared_demo_is_read_only_for_every_tenant(stack, llm, fresh_demo_pg_url):
    # The operator's shared demo (as `manage.py load_demo_data` makes it), on a copy this test may spoil.
    demo = DataSource(name="Chinook demo", engine="postgresql", connection_url=fresh_demo_pg_url, actions=["issue_credit"],
                      shared=True, metadata={"demo": "chinook"}, tenant="default", owner="system")
    demo.save()
    tenant_a, tenant_b = api_user(tenant="tenant-a"), api_user(tenant="tenant-b")
    original = artist_name(fresh_demo_pg_url)

    # Tenant B's agent tries to rename an artist: refused before any confirmation, the model is told why.
    question = unique("Rename artist 1")
    update = "UPDATE artist SET name = 'Tenant B was here' WHERE id = 1"
    llm.script([tool_call(f'executor.run_sql("{update}")', call_id="call_rename"),
                text("The shared demo is read-only, so nothing was renamed.")], match=question)
    body = call(stack, tenant_b, "POST", "/threads", json={"message": question, "stream": False})
    assert body.status_code == 200, body.text
    events = body.json()["events"]
    assert [e["event"] for e in events] == [
        "start", "assistant_response_message", "tool_response_message", "assistant_response_message", "finish"
    ]
    error = events[2]["data"]["output"]["error"]
    assert "shared demo database is read-only" in error and "nothing was changed" in error
    assert not Confirmation.objects.exists()
    # The model was told, in the tool result it read back.
    assert "shared demo database is read-only" in json.dumps(llm.requests[-1]["messages"][-1])

    # Through Dataherald: the same refusal, a 400 naming the query.
    direct = call(stack, tenant_b, "POST", f"{V1}/sql-query-executions", json={"db_connection_id": str(demo.id), "sql_query": update})
    assert direct.status_code == 400 and "read-only" in direct.json()["detail"]

    # Tenant A reads the demo as it was.
    seen = call(stack, tenant_a, "POST", f"{V1}/sql-query-executions",
                json={"db_connection_id": str(demo.id), "sql_query": "SELECT name FROM artist WHERE id = 1"})
    assert seen.status_code == 201 and seen.json()[1] == {"result": [[original]]}
    assert artist_name(fresh_demo_pg_url) == original == "AC/DC"
