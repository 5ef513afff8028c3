"""The official dataherald SDK 0.20.0 against the live server (daphne + Celery worker, PostgreSQL,
Redis, the scripted LLM): every resource it offers, the context store reaching the model, and the
SDK's typed errors.

The SDK lives in a virtualenv of its own at .venv-dataherald/ (git-ignored), made once by the
fixture below; the client script runs there as a subprocess and prints JSON.
"""

import csv
import fcntl
import io
import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.fakes.llm_server import text
from tests.support.principals import api_user
from tests.support.sources import query

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-dataherald"
PYTHON = VENV / "bin" / "python"
SDK_PINS = ["dataherald==0.20.0"]
CLIENT = Path(__file__).with_name("dataherald_sdk_client.py")
QUESTION = "How many tracks last longer than 6 minutes?"
LONG_SQL = "SELECT count(*) AS long_tracks FROM track WHERE milliseconds > 360000"


def _sdk_ready() -> bool:
    if not PYTHON.exists():
        return False
    probe = subprocess.run([str(PYTHON), "-c", "import dataherald; print(dataherald.__version__)"], capture_output=True, text=True, timeout=60)
    return probe.returncode == 0 and probe.stdout.strip() == "0.20.0"


@pytest.fixture(scope="session")
def dataherald_python():
    VENV.mkdir(exist_ok=True)
    with open(VENV / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _sdk_ready():
            subprocess.run(["python3", "-m", "venv", str(VENV)], check=True, timeout=300)
            install = subprocess.run([str(PYTHON), "-m", "pip", "install", "-q", *SDK_PINS], capture_output=True, text=True, timeout=600)
            if install.returncode != 0:
                pytest.fail(f"could not install {' '.join(SDK_PINS)} into {VENV}:\n{install.stdout}\n{install.stderr}")
    return PYTHON


def sql(query: str):
    return text(f"```sql\n{query}\n```")


def test_the_sdk_drives_every_resource(stack, llm, demo_pg_url, dataherald_python):
    user = api_user(tenant="dh-sdk", admin=True)
    token = user["Authorization"].removeprefix("Bearer ")
    llm.script([
        sql(LONG_SQL), text('{"confidence": 0.9, "reason": "counts the long tracks"}'),  # sql-generation, evaluated
        text("There are 71 tracks longer than six minutes."),  # its nl-generation
        text("There are 25 genres."),  # prompt → given SQL → nl
        sql(LONG_SQL), text('{"confidence": 0.8}'), text("71 tracks."),  # generations.create
        text("Still 3503 tracks."),  # generations.nl_generation
    ], match=QUESTION)
    llm.script([sql("SELECT name FROM genre ORDER BY name"), text("Rock, Jazz and 23 more genres.")], match="Which genres are there?")

    ran = subprocess.run([str(dataherald_python), str(CLIENT), stack.base_url, token, demo_pg_url],
                         capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}"
    out = json.loads(ran.stdout.strip().splitlines()[-1])

    assert "nanosecond heartbeat" in out["heartbeat"] and "nanosecond heartbeat" in out["engine_heartbeat"]
    assert {d["driver"] for d in out["drivers"]} >= {"postgresql", "sqlite"}
    db = out["connection"]["id"]
    assert out["connection"]["alias"] == "chinook" and out["connection"]["connection_uri"] is None  # the URI never leaves
    assert db in out["connections"] and out["connection_updated"]["alias"] == "chinook-renamed"

    tables = {t["table_name"]: t for t in out["tables"]}
    assert {"artist", "track", "media_type"} <= set(tables) and all(t["status"] == "SYNCHRONIZED" for t in tables.values())
    media = next(c for c in tables["media_type"]["columns"] if c["name"] == "name")
    assert media["low_cardinality"] and "MPEG audio file" in media["categories"]
    assert out["table_get"]["id"] == tables["track"]["id"] and out["table_get"]["row_count"] == 3503
    assert out["table_updated"]["description"] == "Songs for sale"
    assert next(c for c in out["table_updated"]["columns"] if c["name"] == "milliseconds")["description"] == "length of the song in ms"
    assert out["table_bad_column"]["type"] == "BadRequestError" and "no column 'nope'" in json.dumps(out["table_bad_column"]["body"])

    assert out["instruction_get"]["instruction"] == "Always answer with at most 10 rows."
    assert out["instruction_updated"]["instruction"] == "Temporary rule, changed."
    assert out["instruction_first"]["id"] == out["instruction_get"]["id"] and out["instruction_deleted"] == {"status": True}
    assert [i["instruction"] for i in out["instructions"]] == ["Always answer with at most 10 rows."]

    assert len(out["golden_uploaded"]) == 2 and out["golden_get"]["sql"].startswith("SELECT count(*) AS long_tracks")
    assert [g["prompt_text"] for g in out["golden_list"]] == ["How many tracks are longer than five minutes?"]
    assert out["golden_write"]["status"] == 400 and "not a read-only query" in json.dumps(out["golden_write"]["body"])
    assert out["golden_unparseable"]["type"] == "BadRequestError" and "is not valid PostgreSQL SQL" in json.dumps(out["golden_unparseable"]["body"])

    assert out["prompt"]["text"] == QUESTION and out["prompt"]["metadata"]["from"] == "sdk"
    assert out["prompt_get"] == out["prompt"] and out["prompt"]["id"] in out["prompts"]
    generated = out["sql_generation"]
    assert generated["status"] == "VALID" and generated["sql"] == LONG_SQL and generated["confidence_score"] == 0.9
    assert generated["finetuning_id"] == "ft-unused" and generated["tokens_used"] > 0
    assert out["sql_generation_get"]["id"] == generated["id"] and generated["id"] in out["sql_generations"]
    assert [g["id"] for g in out["prompt_sql_generations"]][0] == generated["id"]
    long_tracks = query(demo_pg_url, LONG_SQL)[0][0]
    assert out["executed"] == [{"long_tracks": long_tracks}]
    assert out["nl_generation"]["text"] == "There are 71 tracks longer than six minutes."
    assert out["nl_generation"]["sql_generation_id"] == generated["id"] and out["nl_generation_get"] == out["nl_generation"]
    assert out["one_call"]["text"] == "Rock, Jazz and 23 more genres." and out["prompt_sql_nl"]["text"] == "There are 25 genres."

    # What the model was sent to write SQL: the rules, the most similar golden SQL, the descriptions.
    sql_prompt = next(r for r in llm.requests if QUESTION in r["messages"][-1]["content"])["messages"][0]["content"]
    assert "Always answer with at most 10 rows." in sql_prompt and "Temporary rule" not in sql_prompt
    assert "Question: How many tracks are longer than five minutes?\nSQL: SELECT count(*) AS long_tracks FROM track WHERE milliseconds > 300000" in sql_prompt
    assert "List the genres" not in sql_prompt  # deleted
    assert "-- Songs for sale" in sql_prompt and "length of the song in ms" in sql_prompt
    assert "values: AAC audio file|MPEG audio file" in sql_prompt

    # A write given as the SQL is refused and never run.
    assert out["given_sql"]["status"] == "INVALID" and "nothing was changed" in out["given_sql"]["error"]
    assert out["given_sql_execute"]["type"] == "BadRequestError" and "never run" in json.dumps(out["given_sql_execute"]["body"])

    assert out["generation_created"]["status"] == "NOT_VERIFIED" and out["generation_created"]["nl_generation_text"] == "71 tracks."
    assert out["generation_verified"]["status"] == "VERIFIED" and out["generation_verified"]["message"] == "checked by hand"
    assert out["generation_get"]["status"] == "VERIFIED" and out["generation_get"]["id"] in [g["id"] for g in out["generations"]]
    assert out["generation_sql"]["sql"] == "SELECT count(*) AS n FROM track" and out["generation_nl"]["text"] == "Still 3503 tracks."
    promoted = [g for g in out["golden_after_verify"] if g["prompt_text"] == QUESTION]
    assert [g["sql"] for g in promoted] == [LONG_SQL] and promoted[0]["metadata"]["dh_internal"]["source"] == "VERIFIED_QUERY"

    for refused in (out["finetuning_create"], out["finetuning_list"]):
        assert refused["type"] == "BadRequestError" and "does not fine-tune" in refused["body"]["detail"]
    assert out["missing_prompt"]["type"] == "NotFoundError"
    assert out["bad_prompt"]["type"] == "BadRequestError" and "text" in out["bad_prompt"]["body"]["errors"]
    assert out["bad_key"]["type"] == "AuthenticationError"

    # csv-file (the SDK has no method for it): the same API key, plain HTTP.
    got = httpx.get(f"{stack.base_url}/api/sql-generations/{generated['id']}/csv-file", headers={"X-API-Key": token}, timeout=60)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(got.text))) == [["long_tracks"], [str(long_tracks)]]
    refused = httpx.get(f"{stack.base_url}/api/sql-generations/{out['given_sql']['id']}/csv-file", headers={"X-API-Key": token}, timeout=60)
    assert refused.status_code == 400 and "never run" in refused.text
    assert not llm.exhausted
