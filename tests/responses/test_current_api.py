"""Dataherald's current API in-process (both mounts, eager worker, both app-database modes): bad
input is a 4xx naming the problem and writes nothing; a generated or given write is never run;
the demo model answers when no model is configured; the other principal sees nothing."""

import json
import uuid

import pytest

from executor.context.models import GoldenSql, Instruction, Prompt, SqlGeneration
from tests.fakes.llm_server import text

from .conftest import client_for, principal

pytestmark = pytest.mark.django_db


def post(api, path, body):
    return api.post(path, json.dumps(body), content_type="application/json")


@pytest.fixture
def source(request, alice, demo_url):
    from .conftest import make_source

    return make_source(alice, demo_url)


@pytest.mark.parametrize("mount", ["/api/v1", "/api"])
def test_bad_input_is_refused_by_name_and_writes_nothing(api, source, mount):
    db = str(source.id)
    cases = [
        ("/golden-sqls", [{"db_connection_id": db, "prompt_text": "x", "sql": "UPDATE track SET name = 'x'"}], "not a read-only query"),
        ("/golden-sqls", [{"db_connection_id": db, "prompt_text": "x"}], "sql"),
        ("/golden-sqls", [{"db_connection_id": db, "prompt_text": "x", "sql": 5}], "Must be a string"),
        ("/golden-sqls", [{"db_connection_id": db, "prompt_text": "x", "sql": "SELECT 1"}] * 1001, "At most 1000"),
        ("/instructions", {"db_connection_id": db, "instruction": ""}, "instruction"),
        ("/prompts", {"db_connection_id": db}, "text"),
        ("/prompts/sql-generations", {"prompt": {"db_connection_id": db, "text": "q"}, "evaluate": "yes"}, "evaluate"),
        ("/table-descriptions/sync-schemas", {"table_names": ["track"]}, "db_connection_id"),
        ("/table-descriptions/refresh", {}, "db_connection_id"),
    ]
    for path, body, problem in cases:
        response = post(api, mount + path, body)
        assert response.status_code == 400, (path, response.status_code, response.content[:300])
        assert problem in response.content.decode(), (path, response.content[:300])
    for path, body in [("/prompts", {"db_connection_id": str(uuid.uuid4()), "text": "q"}),
                       ("/golden-sqls", [{"db_connection_id": "nope", "prompt_text": "x", "sql": "SELECT 1"}]),
                       ("/instructions", {"db_connection_id": str(uuid.uuid4()), "instruction": "x"})]:
        assert post(api, mount + path, body).status_code == 404
    assert not GoldenSql.objects.exists() and not Instruction.objects.exists() and not Prompt.objects.exists()
    assert api.get(f"{mount}/sql-generations/{uuid.uuid4()}/execute").status_code == 404
    assert api.get(f"{mount}/query-history").status_code == 400
    drivers = api.get(f"{mount}/database-connections/drivers")  # not taken for a connection id
    assert drivers.status_code == 200 and {"driver": "sqlite", "name": "SQLite"} in drivers.json()


def test_a_write_is_never_run_given_or_generated(api, source, eager_worker, model, demo_url):
    from tests.support.sources import query

    before = query(demo_url, "SELECT count(*) FROM artist")
    given = post(api, "/api/v1/prompts/sql-generations", {"prompt": {"db_connection_id": str(source.id), "text": "wipe"}, "sql": "DELETE FROM artist"}).json()
    assert given["status"] == "INVALID" and "nothing was changed" in given["error"]
    assert "POST /api/v1/questions" in given["error"]  # where a write can be asked for
    model.script([text("```sql\nDROP TABLE artist\n```")], match="remove the artists")
    generated = post(api, "/api/v1/prompts/sql-generations", {"prompt": {"db_connection_id": str(source.id), "text": "remove the artists"}}).json()
    assert generated["status"] == "INVALID" and generated["sql"] == "DROP TABLE artist" and "nothing was changed" in generated["error"]
    for item in (given, generated):
        refused = api.get(f"/api/v1/sql-generations/{item['id']}/execute")
        assert refused.status_code == 400 and "never run" in refused.json()["errors"]["sql"][0]
    verify = api.put(f"/api/generations/{generated['prompt_id']}", json.dumps({"generation_status": "VERIFIED"}), content_type="application/json")
    assert verify.status_code == 409 and "only a generation whose SQL ran" in verify.json()["detail"] and not GoldenSql.objects.exists()
    assert query(demo_url, "SELECT count(*) FROM artist") == before


def test_the_demo_model_answers_without_a_model(api, source, eager_worker, no_model):
    body = post(api, "/api/prompts/sql-generations/nl-generations", {
        "sql_generation": {"prompt": {"db_connection_id": str(source.id), "text": "How many customers are there?"}},
    })
    assert body.status_code == 201, body.content
    assert body.json()["text"] == "[Demo model: offline, no LLM configured] The query returned one row: customers: 59."
    generation = SqlGeneration.objects.get()
    assert generation.status == "VALID" and "offline demo model" in " ".join(generation.intermediate_steps)
    unknown = post(api, "/api/prompts/sql-generations", {"prompt": {"db_connection_id": str(source.id), "text": "Which playlists mention jazz?"}}).json()
    assert unknown["status"] == "INVALID" and "No language model is configured" in unknown["error"]


def test_another_principal_sees_and_changes_nothing(api, source, eager_worker, no_model):
    made = post(api, "/api/v1/prompts/sql-generations", {"prompt": {"db_connection_id": str(source.id), "text": "How many customers are there?"}}).json()
    post(api, "/api/v1/golden-sqls", [{"db_connection_id": str(source.id), "prompt_text": "customers", "sql": "SELECT count(*) FROM customer"}])
    bob = client_for(principal("bob"))
    assert bob.get("/api/v1/sql-generations").json() == [] and bob.get("/api/v1/golden-sqls").json() == []
    assert bob.get("/api/generations").json() == [] and bob.get("/api/v1/prompts").json() == []
    assert bob.get(f"/api/v1/sql-generations/{made['id']}/csv-file").status_code == 404
    assert post(bob, f"/api/v1/sql-generations/{made['id']}/golden-sql", {}).status_code == 404
    assert post(bob, "/api/v1/table-descriptions/sync-schemas", {"db_connection_id": str(source.id)}).status_code == 404
