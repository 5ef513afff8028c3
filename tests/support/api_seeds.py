"""The objects API tests reach past the 404s with: a data source on a copy of the demo database, an
assistant, a Julep agent, user and session, a BI session, a thread with a finished run and a pending
confirmation, a question with its response. Created through the API when a generated case first needs
one (and again after a case deleted it); schemathesis hooks (`flatmap_path_parameters`,
`flatmap_body`) swap about half of the generated ids for theirs. Used by the schema fuzzer and the
contract checks (tests/support/contract.py).

Runs execute in the request (eager Celery) on the offline demo model: no worker, no LLM.
"""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import strategies as st

from assistants.models import Assistant, Document
from config.patches.spectacular_patterns import NOT_BLANK
from executor.context.models import GoldenSql, Instruction, NlGeneration, Prompt, SqlGeneration, TableDescription
from executor.models import DataSource
from responses.models import Question, Response
from sessions.models import EndUser, Session
from tests.support.principals import api_user, headers
from threads.models import Confirmation, Run, Thread

# --- real objects ----------------------------------------------------------------------------

# The principal and the seeded objects' ids: set up by the `alice` fixture, filled in by the hooks.
SEEDS: dict = {}

# Which seeded object a parameter or body field names. Keys are (path prefix, name); "" matches any path.
_SEED_FOR = {
    ("/api/sessions", "session_id"): "julep_session",
    ("/api/v1/bi/", "session_id"): "bi_session",
    ("/api/sessions", "agent_id"): "agent",
    ("/api/sessions", "user_id"): "user",
    ("/api/v1/bi/", "agent_id"): "assistant",
    ("", "agent_id"): "agent",
    ("/api/users", "user_id"): "user",
    ("", "connection_id"): "connection",
    ("", "db_connection_id"): "connection",
    ("", "data_source_id"): "connection",
    ("", "question_id"): "question",
    ("", "response_id"): "response",
    ("", "assistant_id"): "assistant",
    ("", "thread_id"): "thread",
    ("", "run_id"): "run",
    ("", "confirmation_id"): "confirmation",
    ("/api/agents/", "owner_id"): "agent", ("/api/users/", "owner_id"): "user",
    ("/api/agents/", "doc_id"): "doc", ("/api/users/", "doc_id"): "user_doc",  # a doc of that seeded owner
    # The current Dataherald API calls each path id `id`: the path says whose (under /api/ and /api/v1/).
    **{(mount + route, "id"): kind for mount in ("/api/", "/api/v1/") for route, kind in (
        ("golden-sqls", "golden_sql"), ("instructions", "instruction"), ("table-descriptions", "table_description"),
        ("prompts", "prompt"), ("generations", "prompt"), ("sql-generations", "sql_generation"), ("nl-generations", "nl_generation"),
    )},
}


def _seed_for(path: str, name: str) -> str | None:
    for (prefix, field), seed in _SEED_FOR.items():
        if field == name and path.startswith(prefix):
            return seed
    return None


def _real_ids(ctx, names) -> dict:
    if "_user" not in SEEDS:
        return {}
    kinds = {name: _seed_for(ctx.operation.path, name) for name in names}
    api = Api(SEEDS["_user"])
    return {name: _ensure(kind, api) for name, kind in kinds.items() if kind}


def flatmap_path_parameters(ctx, path_parameters):
    real = _real_ids(ctx, path_parameters or {})
    if not real:
        return st.just(path_parameters)
    return st.sampled_from([path_parameters, {**path_parameters, **real}])


def flatmap_body(ctx, body):
    if not isinstance(body, dict):
        return st.just(body)
    real = _real_ids(ctx, body)
    if not real:
        return st.just(body)
    return st.sampled_from([body, {**body, **real}])


def _schema_valid_id(value) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= 100 and bool(re.search(NOT_BLANK, value))


def _real_body_ids(value, api):
    """Ids named in a Dataherald body (nested in prompts and SQL generations, in lists of golden
    SQLs): a schema-valid one is swapped for the seeded object's about half the time (by the value,
    so a failure reproduces), and a schema-valid statement for one that runs. Schema-valid for
    schema-valid: a negative case stays negative."""
    if isinstance(value, list):
        return [_real_body_ids(item, api) for item in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        kind = {"db_connection_id": "connection", "question_id": "question"}.get(key)
        if kind and _schema_valid_id(item) and sum(map(ord, item)) % 2 == 0:
            out[key] = _ensure(kind, api)
        elif key in ("sql", "sql_query", "sql_statement") and isinstance(item, str) and len(item) <= 100_000 and re.search(NOT_BLANK, item):
            out[key] = "SELECT count(*) AS n FROM customer"  # SQL that runs, which no schema can say either
        else:
            out[key] = _real_body_ids(item, api)
    return out


def _real_columns(columns: list, api) -> list:
    """A column described must be one the table has: schema-valid names become the seeded table's."""
    names = [c["name"] for c in TableDescription.objects.get(pk=_ensure("table_description", api)).columns]
    return [
        {**column, "name": names[i % len(names)]}
        if isinstance(column, dict) and isinstance(column.get("name"), str) and len(column["name"]) <= 300
        and re.search(NOT_BLANK, column["name"]) else column
        for i, column in enumerate(columns)
    ]


def dataherald_body(ctx, body):
    """Also: a database connection's URI must name a database that answers and a described column
    must be the table's, which no schema can say: schema-valid ones are swapped for the demo copy's."""
    if "Dataherald" not in (ctx.operation.tags or []) or "_user" not in SEEDS:
        return body
    api = Api(SEEDS["_user"])
    body = _real_body_ids(body, api)
    if ctx.operation.path.endswith("/table-descriptions/{id}") and isinstance(body, dict) and isinstance(body.get("columns"), list):
        body = {**body, "columns": _real_columns(body["columns"], api)}
    uri = body.get("connection_uri") if isinstance(body, dict) else None
    if isinstance(uri, str) and len(uri) <= 4000 and re.search(NOT_BLANK, uri):
        return {**body, "connection_uri": SEEDS["_demo_url"]}
    return body


class Api:
    """Creates the seeded objects through the API itself, as a client would."""

    def __init__(self, user):
        self.client, self.headers = Client(), headers(user)

    def post(self, path, body, status=(200, 201)):
        response = self.client.post(path, json.dumps(body), content_type="application/json", headers=self.headers)
        assert response.status_code in status, (path, response.status_code, response.content[:500])
        return response.json()


def _create(kind: str, api: Api) -> str:
    if kind == "connection":
        return api.post("/api/v1/database-connections", {"alias": "chinook", "connection_uri": SEEDS["_demo_url"]})["id"]
    if kind == "assistant":
        config = {"configurable": {"data_source_id": _ensure("connection", api)}}
        return api.post("/assistants", {"name": "Fuzz analyst", "config": config})["assistant_id"]
    if kind == "agent":
        return api.post("/api/agents", {"name": "Fuzz agent", "data_source_id": _ensure("connection", api)})["id"]
    if kind == "user":
        return api.post("/api/users", {"name": "Fuzz user", "about": ""})["id"]
    if kind in ("doc", "user_doc"):
        owner = f"/api/agents/{_ensure('agent', api)}" if kind == "doc" else f"/api/users/{_ensure('user', api)}"
        return api.post(f"{owner}/docs", {"title": "Fuzz doc", "content": "Weekdays 9 to 17."})["id"]
    if kind == "julep_session":
        body = {"agent_id": _ensure("agent", api), "user_id": _ensure("user", api), "situation": "Fuzzing."}
        return api.post("/api/sessions", body)["id"]
    if kind == "bi_session":
        return api.post("/api/v1/bi/sessions", {"user_id": "fuzz-user", "agent_id": _ensure("assistant", api)})["session_id"]
    if kind == "thread":
        return api.post("/ui/threads", {"assistant_id": _ensure("assistant", api), "name": "Fuzz thread"})["thread_id"]
    if kind == "run":
        # A real run (eager, demo model) so the thread has history, a finished run and events.
        body = {"thread_id": _ensure("thread", api), "input": [{"type": "human", "content": "How many customers are there?"}]}
        return api.post("/runs", body)["run_id"]
    if kind == "confirmation":
        run = Run.objects.get(pk=_ensure("run", api))
        confirmation = Confirmation.objects.create(
            thread_id=run.thread_id, run=run, message="UPDATE customer SET company = 'Fuzz' WHERE customer_id = 5",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        return str(confirmation.id)
    if kind in ("question", "response"):
        body = {"db_connection_id": _ensure("connection", api), "question": "How many customers are there?"}
        created = api.post("/api/v1/questions", body)  # answered with its first response
        SEEDS["question"], SEEDS["response"] = created["question_id"], created["id"]
        return SEEDS[kind]
    if kind == "golden_sql":
        body = [{"db_connection_id": _ensure("connection", api), "prompt_text": "How many customers?", "sql": "SELECT count(*) FROM customer"}]
        return api.post("/api/golden-sqls", body)[0]["id"]
    if kind == "instruction":
        body = {"db_connection_id": _ensure("connection", api), "instruction": "Count rows with count(*)."}
        return api.post("/api/instructions", body)["id"]
    if kind == "table_description":  # a scan (eager) describes the demo database's tables
        return api.post("/api/table-descriptions/refresh", {"db_connection_id": _ensure("connection", api)})[0]["id"]
    if kind == "prompt":
        return api.post("/api/prompts", {"db_connection_id": _ensure("connection", api), "text": "How many customers are there?"})["id"]
    if kind == "sql_generation":  # the SQL given, checked and run: VALID, so it can be executed and promoted
        return api.post(f"/api/prompts/{_ensure('prompt', api)}/sql-generations", {"sql": "SELECT count(*) AS n FROM customer"})["id"]
    if kind == "nl_generation":
        return api.post(f"/api/sql-generations/{_ensure('sql_generation', api)}/nl-generations", {})["id"]
    raise AssertionError(kind)


_MODELS = {
    "connection": DataSource, "assistant": Assistant, "agent": Assistant, "user": EndUser,
    "doc": Document, "user_doc": Document, "julep_session": Session, "bi_session": Session, "thread": Thread, "run": Run, "confirmation": Confirmation,
    "question": Question, "response": Response,
    "golden_sql": GoldenSql, "instruction": Instruction, "table_description": TableDescription, "prompt": Prompt,
    "sql_generation": SqlGeneration, "nl_generation": NlGeneration,
}


def _ensure(kind: str, api: Api) -> str:
    """The seeded object's id, created on first use and again whenever a case deleted it (or its parent)."""
    current = SEEDS.get(kind)
    if current is None or not _MODELS[kind].objects.filter(pk=current).exists():
        SEEDS[kind] = _create(kind, api)
    if kind == "confirmation":
        Confirmation.objects.filter(pk=SEEDS[kind]).update(status=Confirmation.Status.PENDING, decided_at=None)
    return SEEDS[kind]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def eager_worker(settings):
    """Runs execute inside the request, as a worker would run them, on the offline demo model."""
    from config.celery import app as celery_app

    settings.OPENAI_BASE_URL = None
    settings.OPENAI_API_KEY = None
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def alice(transactional_db, eager_worker, fresh_demo_sqlite_url, tmp_path, settings):
    """The principal every generated request authenticates as; the hooks seed its objects.

    transactional_db: the WSGI handler closes the database connection after each request, which
    would end a test transaction; committed rows are flushed after the test instead.
    """
    settings.VAR_DIR = tmp_path  # CSV exports of generated responses
    settings.CSV_S3_BUCKET = None
    settings.SQLITE_DATA_SOURCE_DIRS = [str(tmp_path)]  # where the demo copy is
    settings.CONNECTION_TESTS_PER_MINUTE = 1_000_000  # the fuzzer tests connections far faster than a person
    # A generated query the guard holds for approval runs in process here, where nobody can approve it
    # while the request waits: with no time to decide it expires at once (and is never run).
    settings.CONFIRMATION_TIMEOUT = 0
    user = api_user(tenant="acme", user_id="alice", admin=True)  # a tenant admin: the seeds include a connection
    SEEDS.clear()
    SEEDS.update(_user=user, _demo_url=fresh_demo_sqlite_url)
    yield user
    SEEDS.clear()
