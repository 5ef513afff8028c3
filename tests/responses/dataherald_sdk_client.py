"""Drives the official dataherald SDK (0.20.0) against a Querent server: every resource it offers.

Runs in its own virtualenv, so it imports nothing from Querent:
    python dataherald_sdk_client.py BASE_URL API_KEY DATABASE_URL
Prints one JSON object with what each call returned (or which typed error it raised).
"""

import json
import sys
import time

import dataherald
import httpx
from dataherald import Dataherald


def plain(value):
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    return value


def raised(call) -> dict:
    try:
        call()
    except dataherald.APIStatusError as exc:
        return {"type": type(exc).__name__, "status": exc.status_code, "body": exc.body}
    return {"type": None}


def main(base_url: str, api_key: str, database_url: str) -> dict:
    # Current httpx dropped an argument the SDK's default client passes: give it a client.
    client = Dataherald(api_key=api_key, base_url=base_url, http_client=httpx.Client(timeout=120), max_retries=0)
    out = {"heartbeat": plain(client.heartbeat.retrieve()), "engine_heartbeat": plain(client.engine.heartbeat())}
    out["drivers"] = plain(client.database_connections.drivers.list())

    connection = client.database_connections.create(alias="chinook", connection_uri=database_url, use_ssh=False)
    out["connection"] = plain(connection)
    out["connection_get"] = plain(client.database_connections.retrieve(connection.id))
    out["connections"] = [c.id for c in client.database_connections.list()]
    out["connection_updated"] = plain(client.database_connections.update(connection.id, alias="chinook-renamed", connection_uri=database_url))
    db = connection.id

    out["synced"] = plain(client.table_descriptions.sync_schemas(body=[{"db_connection_id": db}]))
    deadline = time.monotonic() + 120
    while True:
        tables = client.table_descriptions.list(db_connection_id=db)
        if tables and all(t.status in ("SYNCHRONIZED", "FAILED") for t in tables) or time.monotonic() > deadline:  # noqa: SIM102
            break
        time.sleep(0.2)
    out["tables"] = plain(tables)
    track = next(t for t in tables if t.table_name == "track")
    out["table_get"] = plain(client.table_descriptions.retrieve(track.id))
    out["table_updated"] = plain(client.table_descriptions.update(
        track.id, description="Songs for sale", columns=[{"name": "milliseconds", "description": "length of the song in ms"}]
    ))
    out["table_bad_column"] = raised(lambda: client.table_descriptions.update(track.id, columns=[{"name": "nope", "description": "x"}]))

    first = client.instructions.create(instruction="Always answer with at most 10 rows.", db_connection_id=db)
    second = client.instructions.create(instruction="Temporary rule.", db_connection_id=db, metadata={"k": "v"})
    out["instruction_get"] = plain(client.instructions.retrieve(first.id))
    out["instruction_updated"] = plain(client.instructions.update(second.id, instruction="Temporary rule, changed.", db_connection_id=db))
    out["instruction_first"] = plain(client.instructions.first.retrieve())
    out["instruction_deleted"] = plain(client.instructions.delete(second.id))
    out["instructions"] = plain(client.instructions.list(db_connection_id=db))

    uploaded = client.golden_sqls.upload(body=[
        {"db_connection_id": db, "prompt_text": "How many tracks are longer than five minutes?",
         "sql": "SELECT count(*) AS long_tracks FROM track WHERE milliseconds > 300000"},
        {"db_connection_id": db, "prompt_text": "List the genres", "sql": "SELECT name FROM genre ORDER BY name"},
    ])
    out["golden_uploaded"] = plain(uploaded)
    out["golden_get"] = plain(client.golden_sqls.retrieve(uploaded[0].id))
    out["golden_deleted"] = plain(client.golden_sqls.delete(uploaded[1].id))
    out["golden_list"] = plain(client.golden_sqls.list(db_connection_id=db, page=1, page_size=10))
    out["golden_write"] = raised(lambda: client.golden_sqls.upload(body=[{"db_connection_id": db, "prompt_text": "wipe", "sql": "DELETE FROM track"}]))
    out["golden_unparseable"] = raised(lambda: client.golden_sqls.upload(body=[{"db_connection_id": db, "prompt_text": "x", "sql": "SELEC * FRM track"}]))

    prompt = client.prompts.create(db_connection_id=db, text="How many tracks last longer than 6 minutes?", metadata={"from": "sdk"})
    out["prompt"] = plain(prompt)
    out["prompt_get"] = plain(client.prompts.retrieve(prompt.id))
    out["prompts"] = [p.id for p in client.prompts.list(page=1, page_size=50)]
    generated = client.prompts.sql_generations.create(prompt.id, evaluate=True, low_latency_mode=True, finetuning_id="ft-unused")
    out["sql_generation"] = plain(generated)
    out["sql_generation_get"] = plain(client.sql_generations.retrieve(generated.id))
    out["prompt_sql_generations"] = plain(client.prompts.sql_generations.retrieve(prompt.id))
    out["sql_generations"] = [g.id for g in client.sql_generations.list()]
    out["executed"] = plain(client.sql_generations.execute(generated.id, max_rows=5))
    answer = client.sql_generations.nl_generations.create(generated.id, max_rows=10)
    out["nl_generation"] = plain(answer)
    out["nl_generation_get"] = plain(client.nl_generations.retrieve(answer.id))
    out["nl_generations"] = [n.id for n in client.nl_generations.list()]

    out["one_call"] = plain(client.nl_generations.create(
        sql_generation={"prompt": {"db_connection_id": db, "text": "Which genres are there?"}}, max_rows=50
    ))
    out["prompt_sql_nl"] = plain(client.prompts.sql_generations.nl_generations(prompt.id, sql_generation={"sql": "SELECT count(*) AS n FROM genre"}))
    out["given_sql"] = plain(client.sql_generations.create(prompt={"db_connection_id": db, "text": "delete everything"}, sql="DELETE FROM track"))
    out["given_sql_execute"] = raised(lambda: client.sql_generations.execute(out["given_sql"]["id"]))

    out["generation_created"] = plain(client.generations.create(prompt.id))
    out["generation_verified"] = plain(client.generations.update(prompt.id, generation_status="VERIFIED", message="checked by hand"))
    out["generation_get"] = plain(client.generations.retrieve(prompt.id))
    out["generations"] = plain(client.generations.list(page=1, page_size=100))
    out["generation_sql"] = plain(client.generations.sql_generation(prompt.id, sql="SELECT count(*) AS n FROM track"))
    out["generation_nl"] = plain(client.generations.nl_generation(prompt.id))
    out["golden_after_verify"] = plain(client.golden_sqls.list(db_connection_id=db))

    out["finetuning_create"] = raised(lambda: client.finetunings.create(alias="x", db_connection_id=db, base_llm={"model_name": "gpt-4o"}))
    out["finetuning_list"] = raised(lambda: client.finetunings.list(db_connection_id=db))
    out["missing_prompt"] = raised(lambda: client.prompts.retrieve("00000000-0000-4000-8000-000000000000"))
    out["bad_prompt"] = raised(lambda: client.prompts.create(db_connection_id=db, text=""))
    bad_key = Dataherald(api_key="qk_wrong", base_url=base_url, http_client=httpx.Client(timeout=30), max_retries=0)
    out["bad_key"] = raised(lambda: bad_key.prompts.list())
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4]), default=str))
