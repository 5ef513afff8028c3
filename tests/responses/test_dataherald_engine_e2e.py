"""Dataherald's engine paths under /api/v1/ with httpx against the live stack, on a PostgreSQL
database of 1,000 tables: scan, context, generation, execution, and what the model is sent; and
the run engine's prompt built from the same context in every other dialect (OpenGPTs, PromptQL,
BI and Julep on the same source)."""

import csv
import io
import json
import time
import uuid

import httpx
import psycopg
import pytest
from psycopg import sql as pgsql

from tests.fakes.llm_server import text
from tests.fixtures.demo_db import _admin, pg_url
from tests.support.principals import api_user, headers
from tests.support.sse import sse_frames
from tests.support.wide_schema import RELEVANT, build_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TIMEOUT = 120
QUESTION = "Which carrier shipped the most parcels?"
CARRIER_SQL = f"SELECT carrier, count(*) AS parcels FROM {RELEVANT} GROUP BY carrier ORDER BY parcels DESC, carrier LIMIT 1"


@pytest.fixture(scope="module")
def wide_pg_url():
    name = f"querent_dh_wide_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        with psycopg.connect(pg_url(name), autocommit=True) as conn:
            build_postgres(conn, tables=999, columns=20)  # with the relevant one: 1,000
        yield pg_url(name)
    finally:
        admin.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
        admin.close()


def call(stack, user, method, path, **kwargs):
    return httpx.request(method, f"{stack.base_url}/api/v1{path}", headers=headers(user), timeout=TIMEOUT, **kwargs)


def system_of(request: dict) -> str:
    return request["messages"][0]["content"]


def test_engine_paths_on_a_thousand_tables(stack, llm, wide_pg_url):
    admin = api_user(tenant="dh-engine", admin=True)
    created = call(stack, admin, "POST", "/database-connections", json={"alias": "warehouse", "connection_uri": wide_pg_url})
    assert created.status_code == 201, created.text
    db = created.json()["id"]

    synced = call(stack, admin, "POST", "/table-descriptions/sync-schemas", json={"db_connection_id": db})
    assert synced.status_code == 201, synced.text
    deadline = time.monotonic() + 300
    while (state := call(stack, admin, "GET", f"/database-connections/{db}/scan").json())["status"] not in ("DONE", "FAILED"):
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["status"] == "DONE" and state["tables_done"] == state["tables_total"] == 1000, state
    [shipments] = call(stack, admin, "GET", "/table-descriptions", params={"db_connection_id": db, "table_name": RELEVANT}).json()
    assert shipments["status"] == "SCANNED" and shipments["row_count"] == 200  # the engine's status names
    carrier = next(c for c in shipments["columns"] if c["name"] == "carrier")
    assert carrier["low_cardinality"] and carrier["categories"] == ["DHL", "FedEx", "UPS", "USPS"]
    described = call(stack, admin, "PUT", f"/table-descriptions/{shipments['id']}",
                     json={"description": "One row per parcel sent", "columns": [{"name": "weight_kg", "description": "parcel weight"}]})
    assert described.status_code == 200 and described.json()["description"] == "One row per parcel sent"

    rule = call(stack, admin, "POST", "/instructions", json={"instruction": "Count parcels with count(*).", "db_connection_id": db})
    assert rule.status_code == 201
    golden = [{"db_connection_id": db, "prompt_text": f"What is in ledger {n}?", "sql": f"SELECT * FROM t{n:04d}_ledger"} for n in range(300)]
    golden.append({"db_connection_id": db, "prompt_text": "Which carrier has the heaviest parcels?",
                   "sql": f"SELECT carrier, max(weight_kg) FROM {RELEVANT} GROUP BY carrier ORDER BY 2 DESC LIMIT 1"})
    assert call(stack, admin, "POST", "/golden-sqls", json=golden).status_code == 201
    bad = call(stack, admin, "POST", "/golden-sqls", json=[{"db_connection_id": db, "prompt_text": "drop", "sql": f"DROP TABLE {RELEVANT}"}])
    assert bad.status_code == 400 and "not a read-only query" in bad.text
    assert len(call(stack, admin, "GET", "/golden-sqls", params={"db_connection_id": db}).json()) == 301

    llm.script([text(f"```sql\n{CARRIER_SQL}\n```"), text("DHL and FedEx lead with 50 parcels each; DHL comes first.")], match=QUESTION)
    made = call(stack, admin, "POST", "/prompts/sql-generations",
                json={"prompt": {"text": QUESTION, "db_connection_id": db}, "low_latency_mode": True, "llm_config": {"llm_name": "x"}})
    assert made.status_code == 201, made.text
    generation = made.json()
    assert generation["status"] == "VALID" and generation["sql"] == CARRIER_SQL and generation["confidence_score"] is None

    system = system_of(llm.requests[-1])
    assert "Count parcels with count(*)." in system
    assert "Question: Which carrier has the heaviest parcels?" in system and "What is in ledger" not in system
    schema = system.split("Schema:\n", 1)[1]
    assert len(schema) <= 6000 and "1000 tables/views" in schema and "more tables not shown" in schema
    first_table = schema.splitlines()[1]
    assert first_table.startswith(f"{RELEVANT} [~200 rows] -- One row per parcel sent")
    assert "carrier text values: DHL|FedEx|UPS|USPS" in first_table and "(parcel weight)" in first_table

    rows = call(stack, admin, "GET", f"/sql-generations/{generation['id']}/execute").json()
    assert rows == [{"carrier": "DHL", "parcels": 50}]
    got = call(stack, admin, "GET", f"/sql-generations/{generation['id']}/csv-file")
    assert list(csv.reader(io.StringIO(got.text))) == [["carrier", "parcels"], ["DHL", "50"]]
    answer = call(stack, admin, "POST", f"/sql-generations/{generation['id']}/nl-generations", json={"max_rows": 10})
    assert answer.status_code == 201 and answer.json()["text"].startswith("DHL and FedEx lead")
    history = call(stack, admin, "GET", "/query-history", params={"db_connection_id": db}).json()
    assert [(h["query"], h["occurrences"]) for h in history] == [(CARRIER_SQL, 1)]
    promoted = call(stack, admin, "POST", f"/sql-generations/{generation['id']}/golden-sql")
    assert promoted.status_code == 201 and promoted.json()["prompt_text"] == QUESTION

    refused = call(stack, admin, "POST", "/finetunings", json={"db_connection_id": db, "alias": "x"})
    assert refused.status_code == 400 and "does not fine-tune" in refused.json()["detail"]
    assert call(stack, admin, "GET", "/heartbeat").status_code == 200

    # Someone else of the tenant sees none of it.
    stranger = api_user(tenant="dh-engine")
    assert call(stack, stranger, "GET", f"/sql-generations/{generation['id']}").status_code == 404
    assert call(stack, stranger, "GET", "/golden-sqls").json() == []
    assert call(stack, stranger, "GET", "/table-descriptions", params={"db_connection_id": db}).status_code == 404

    # The run engine (here an OpenGPTs agent on the same source) builds its prompt from the same context.
    asked = f"Count the parcels of each carrier ({uuid.uuid4().hex[:6]})"
    llm.script([text("I would count parcels per carrier.")], match=asked)
    assistant = httpx.post(f"{stack.base_url}/assistants", headers=headers(admin), timeout=TIMEOUT,
                           json={"name": "analyst", "config": {"configurable": {"data_source_id": db}}}).json()
    thread = httpx.post(f"{stack.base_url}/threads", headers=headers(admin), timeout=TIMEOUT,
                        json={"name": "t", "assistant_id": assistant["assistant_id"]}).json()
    with httpx.stream("POST", f"{stack.base_url}/runs/stream", headers=headers(admin), timeout=TIMEOUT, json={
        "assistant_id": assistant["assistant_id"], "thread_id": thread["thread_id"], "input": [{"content": asked, "type": "human"}],
    }) as response:
        events = list(sse_frames(response))
    assert events[-1][0] == "end", events
    system = system_of(next(r for r in llm.requests if asked in json.dumps(r["messages"][-1])))
    assert "Count parcels with count(*)." in system
    assert f"Question: {QUESTION}\nSQL: {CARRIER_SQL}" in system  # the promoted answer, now an example
    assert f"\n{RELEVANT} [~200 rows] -- One row per parcel sent" in system and "more tables not shown" in system

    # PromptQL, BI and Julep on the same source: each dialect's model request carries the same context.
    def assert_context_sent(question: str) -> None:
        sent = [r for r in llm.requests if question in json.dumps(r["messages"])]
        assert sent, f"the model was never asked {question!r}"
        system = system_of(sent[0])
        assert "Count parcels with count(*)." in system
        assert f"Question: {QUESTION}\nSQL: {CARRIER_SQL}" in system
        assert f"\n{RELEVANT} [~200 rows] -- One row per parcel sent" in system and "more tables not shown" in system

    def unique(question: str) -> str:
        asked = f"{question} ({uuid.uuid4().hex[:6]})"
        llm.script([text("I would count parcels per carrier.")] * 3, match=asked)
        return asked

    asked = unique("How many parcels per carrier, PromptQL")
    answered = httpx.post(f"{stack.base_url}/threads", headers=headers(admin), timeout=TIMEOUT,
                          json={"message": asked, "assistant_id": assistant["assistant_id"], "stream": False})
    assert answered.status_code == 200, answered.text
    assert_context_sent(asked)

    asked = unique("How many parcels per carrier, BI")
    session = httpx.post(f"{stack.base_url}/api/v1/bi/sessions", headers=headers(admin), timeout=TIMEOUT,
                         json={"user_id": "analyst-1", "agent_id": assistant["assistant_id"]})
    assert session.status_code == 201, session.text
    httpx.post(f"{stack.base_url}/api/v1/bi/sessions/{session.json()['session_id']}/messages", headers=headers(admin),
               timeout=TIMEOUT, json={"message": asked})
    assert_context_sent(asked)

    asked = unique("How many parcels per carrier, Julep")
    agent = httpx.post(f"{stack.base_url}/api/agents", headers=headers(admin), timeout=TIMEOUT,
                       json={"name": "Parcels", "data_source_id": db})
    assert agent.status_code == 201, agent.text
    user = httpx.post(f"{stack.base_url}/api/users", headers=headers(admin), timeout=TIMEOUT, json={"name": "Ana"}).json()
    julep = httpx.post(f"{stack.base_url}/api/sessions", headers=headers(admin), timeout=TIMEOUT,
                       json={"agent_id": agent.json()["id"], "user_id": user["id"]})
    assert julep.status_code == 201, julep.text
    chat = httpx.post(f"{stack.base_url}/api/sessions/{julep.json()['id']}/chat", headers=headers(admin), timeout=TIMEOUT,
                      json={"messages": [{"role": "user", "content": asked}]})
    assert chat.status_code == 200, chat.text
    assert_context_sent(asked)
