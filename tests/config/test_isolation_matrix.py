"""Isolation matrix generated from the URL conf.

Every route that takes an object id is called, with every method its view serves, by a principal
who does not own the object: another user of the same tenant, and the same user id in another
tenant. Each call must be a JSON 404 and must leave the database exactly as it was. The routes
come from `config.urls` itself, so a new object route is tested (or fails the coverage test until
someone says which object it serves) without anyone remembering to add it here.

Requests go through the real stack in-process (middleware, authentication with API keys, DRF and
the async views); nothing of the project is mocked.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from asgiref.sync import iscoroutinefunction
from django.db import transaction
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from assistants.models import ApiKey, Assistant, Document, DocumentChunk
from config.identity import Principal
from executor.context.models import ContextState, GoldenSql, Instruction, NlGeneration, Prompt, SqlGeneration, TableDescription
from executor.models import DataSource
from responses.models import Question, Response
from responses.storage import csv_writer
from sessions import services as session_services
from sessions.models import EndUser, Session
from threads.store import store
from threads.models import Artifact, Confirmation, Message, Run, RunEvent, Thread

# --- the URL conf, walked --------------------------------------------------------------------

PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# Routes under these prefixes are not per-owner objects.
EXEMPT_PREFIXES = {
    "admin/": "the Django admin: staff-only pages over every tenant's rows by design (is_staff), not an owner-scoped API",
    "api/v1/finetunings/": "no finetuning objects exist: every finetuning call is the same 400 saying Querent does not fine-tune",
    "api/finetunings/": "no finetuning objects exist: every finetuning call is the same 400 saying Querent does not fine-tune",
    "ui/uploads/": "an upload's progress is kept under the caller's own principal: another principal reads only its own "
    "(an empty 'waiting'), never the uploader's",
}

# (route text before the id, id parameter) -> the kind of object the id names. A new sub-route of a
# known object (threads/<id>/anything) is covered at once; a new kind of object fails the coverage test.
OBJECT_KINDS = {
    ("assistants/", "assistant_id"): "assistant",
    ("api/v1/bi/sessions/", "session_id"): "bi_session",
    ("api/v1/database-connections/", "connection_id"): "data_source",
    ("api/v1/questions/", "question_id"): "question",
    ("api/v1/responses/", "response_id"): "response",
    ("api/agents/", "agent_id"): "julep_agent",
    ("api/users/", "user_id"): "julep_user",
    ("api/agents/", "owner_id"): "julep_agent",  # an agent's docs
    ("api/users/", "owner_id"): "julep_user",  # a user's docs
    ("api/sessions/", "session_id"): "julep_session",
    ("ui/threads/", "thread_id"): "thread",
    ("threads/", "thread_id"): "thread",
    ("runs/", "run_id"): "run",
    ("api/database-connections/", "connection_id"): "data_source",
    ("ui/data-sources/", "data_source_id"): "data_source",
    # Dataherald's current API, under both mounts; a generation's id is its prompt's.
    **{
        (prefix + route, "pk"): kind
        for prefix in ("api/v1/", "api/")
        for route, kind in (
            ("table-descriptions/", "table_description"), ("golden-sqls/", "golden_sql"), ("instructions/", "instruction"),
            ("prompts/", "prompt"), ("generations/", "prompt"), ("sql-generations/", "sql_generation"),
            ("nl-generations/", "nl_generation"),
        )
    },
}

# Views are asked for the methods they serve (their handler methods), plus these requests.
# "GET sse" is the same GET asking for an event stream: a refusal must still be a JSON 404.
MORE_REQUESTS = {"ThreadEventsView": ("GET sse",)}

PAIRS = {
    "same-tenant": (Principal("acme", "alice"), Principal("acme", "bob")),
    "cross-tenant": (Principal("acme", "alice"), Principal("globex", "alice")),  # same user id, other tenant
}
PAIR_EXEMPTIONS = {
    ("bi_session", "same-tenant"): "BI sessions belong to the tenant, not to the key that made them: every principal "
    "acting for the tenant sees them (docs/decisions.md, BI and Julep sessions)",
}


@dataclass(frozen=True)
class Route:
    route: str  # the full pattern text, e.g. "api/v1/bi/sessions/<str:session_id>/messages"
    params: tuple[str, ...]
    callback: object

    @property
    def key(self) -> str:
        """Both spellings (with and without the trailing slash) share one entry in the tables below."""
        return self.route.rstrip("/")

    @property
    def exemption(self) -> str | None:
        return next((why for prefix, why in EXEMPT_PREFIXES.items() if self.route.startswith(prefix)), None)

    @property
    def kind(self) -> str | None:
        match = PARAM.search(self.route)
        return OBJECT_KINDS.get((self.route[: match.start()], self.params[0]))

    @property
    def view_class(self):
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def methods(self) -> tuple[str, ...]:
        if self.view_class is None:
            return ()
        served = tuple(m for m in HTTP_METHODS if hasattr(self.view_class, m.lower()))
        return served + MORE_REQUESTS.get(self.view_class.__name__, ())

    @property
    def is_async(self) -> bool:
        """Async views read on other threads (other connections): their objects must be committed."""
        return iscoroutinefunction(self.callback)

    def url(self, made: "Made") -> str:
        """The first id names the object; later ones (a doc, a confirmation) are the factory's sub-objects."""
        values = iter([made.id, *(made.more[name] for name in self.params[1:])])
        return "/" + PARAM.sub(lambda _: str(next(values)), self.route)


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.callback


def object_routes() -> list[Route]:
    routes = []
    for text, callback in _walk(get_resolver().url_patterns):
        params = tuple(a or b for a, b in PARAM.findall(text))
        if params:
            routes.append(Route(text, params, callback))
    return routes


ROUTES = object_routes()
MATRIX_ROUTES = [r for r in ROUTES if r.exemption is None]

# --- what each call sends --------------------------------------------------------------------


@dataclass
class Made:
    """An object principal A owns, with what requests about it need."""

    id: str
    confirmation_id: str | None = None
    more: dict = field(default_factory=dict)  # ids of sub-objects named by later route parameters


# Valid bodies, so a view that validates before it looks the object up still reaches the lookup.
# Each gets the object and an assistant of the other principal's own (for bodies that must name one).
BODIES = {
    ("assistants/<uuid:assistant_id>", "PUT"): lambda made, _: {"name": "taken over", "config": {"configurable": {}}},
    ("api/v1/bi/sessions/<str:session_id>/messages", "POST"): lambda made, _: {"message": "how many tracks are there"},
    ("api/v1/bi/sessions/<str:session_id>/refine", "POST"): lambda made, _: {"refinement": "only rock"},
    ("api/v1/bi/sessions/<str:session_id>/visualization", "POST"): lambda made, _: {"chart_type": "bar"},
    ("api/v1/database-connections/<str:connection_id>", "PUT"): lambda made, _: {"alias": "taken over"},
    ("api/agents/<str:agent_id>", "PUT"): lambda made, _: {"name": "taken over", "about": ""},
    ("api/agents/<str:agent_id>", "PATCH"): lambda made, _: {"name": "taken over"},
    ("api/users/<str:user_id>", "PUT"): lambda made, _: {"name": "taken over", "about": ""},
    ("api/users/<str:user_id>", "PATCH"): lambda made, _: {"name": "taken over"},
    ("api/sessions/<str:session_id>", "PUT"): lambda made, _: {"situation": "taken over"},
    ("api/sessions/<str:session_id>", "PATCH"): lambda made, _: {"situation": "taken over"},
    ("api/sessions/<str:session_id>/chat", "POST"): lambda made, _: {"messages": [{"role": "user", "content": "hi"}]},
    ("ui/threads/<uuid:thread_id>", "PATCH"): lambda made, _: {"name": "taken over"},
    ("threads/<uuid:thread_id>", "POST"): lambda made, _: {"message": "hello", "stream": False},
    ("threads/<uuid:thread_id>", "PUT"): lambda made, b_assistant: {"name": "taken over", "assistant_id": b_assistant},
    ("threads/<uuid:thread_id>/user_confirmation", "POST"): lambda made, _: {"confirmation_id": made.confirmation_id, "confirm": True},
    ("threads/<uuid:thread_id>/state", "POST"): lambda made, _: {"values": [{"type": "human", "content": "injected"}]},
}

# How the owner shows the object is there, for routes without a GET: (method, body, expected status).
# Without this, a 404 for the other principal could come from a factory that made nothing.
OWNER_PROBES = {
    "threads/<uuid:thread_id>/user_confirmation": ("POST", lambda made: {"confirmation_id": made.confirmation_id, "confirm": "maybe"}, 400),
    "threads/<uuid:thread_id>/cancel": ("POST", lambda made: {}, 200),
    "api/v1/bi/sessions/<str:session_id>/messages": ("POST", lambda made: {}, 400),
    "api/v1/bi/sessions/<str:session_id>/refine": ("POST", lambda made: {}, 400),
    "api/v1/bi/sessions/<str:session_id>/visualization": ("POST", lambda made: {"chart_type": "bar"}, 409),  # no result yet
    "api/sessions/<str:session_id>/chat": ("POST", lambda made: {}, 400),
    # A decision is read after the session is found: a bad one is the owner's 400, another's 404.
    "api/v1/bi/sessions/<str:session_id>/confirmations/<str:confirmation_id>": ("POST", lambda made: {"approve": "maybe"}, 400),
    "api/sessions/<str:session_id>/confirmations/<str:confirmation_id>": ("POST", lambda made: {"approve": "maybe"}, 400),
    "api/v1/responses/<str:response_id>/confirmations/<str:confirmation_id>": ("POST", lambda made: {"approve": "maybe"}, 400),
    "ui/threads/<uuid:thread_id>/golden-sqls": ("POST", lambda made: {}, 400),
    **{
        f"api/{owners}/<str:owner_id>/docs/{route}": probe
        for owners in ("agents", "users")
        for route, probe in (("search", ("POST", lambda made: {"text": "private"}, 200)), ("<str:doc_id>", ("DELETE", None, 202)))
    },
    # The factories' data sources are never reachable: running their SQL is the database's 400.
    **{
        prefix + route: probe
        for prefix in ("api/v1/", "api/")
        for route, probe in (
            ("sql-generations/<str:pk>/execute", ("GET", None, 400)),
            ("sql-generations/<str:pk>/csv-file", ("GET", None, 400)),
            ("sql-generations/<str:pk>/golden-sql", ("POST", lambda made: {}, 201)),
            ("prompts/<str:pk>/sql-generations/nl-generations", ("POST", lambda made: {}, 400)),
            ("generations/<str:pk>/sql-generation", ("POST", lambda made: {}, 400)),
            ("generations/<str:pk>/nl-generation", ("POST", lambda made: {}, 409)),  # found: it has no SQL yet
        )
    },
}


def call(client: Client, route: Route, method: str, made: Made, body=None):
    headers = {"HTTP_ACCEPT": "text/event-stream"} if method == "GET sse" else {}
    verb = method.split()[0]
    if body is None:
        return client.generic(verb, route.url(made), **headers)
    return client.generic(verb, route.url(made), json.dumps(body), content_type="application/json", **headers)


# --- object factories (for principal A) ------------------------------------------------------


def _owned(obj, principal: Principal):
    obj.assign_owner(principal)
    obj.save()
    return obj


def make_data_source(p: Principal) -> DataSource:
    # Never connected to: the routes under test must refuse before they would.
    return _owned(DataSource(name="alice's db", engine="sqlite", connection_url="sqlite:////nonexistent-querent/alice.sqlite3"), p)


def make_assistant(p: Principal) -> Assistant:
    return _owned(Assistant(name="alice's analyst", instructions="private", data_source=make_data_source(p)), p)


def make_thread_with_history(p: Principal) -> tuple[Thread, Run, Confirmation]:
    """A thread waiting on a write approval: messages, events, an artifact and a pending confirmation."""
    thread = _owned(Thread(name="alice's thread", assistant=make_assistant(p)), p)
    now = timezone.now()
    run = Run.objects.create(thread=thread, status=Run.Status.REQUIRES_ACTION, started_at=now, heartbeat_at=now, attempts=1)
    Message.objects.create(thread=thread, run=run, seq=1, role=Message.Role.HUMAN, content="delete old credits")
    Message.objects.create(
        thread=thread, run=run, seq=2, role=Message.Role.AI, content="", tool_calls=[{"id": "c1", "name": "execute_python", "args": {}}]
    )
    confirmation = Confirmation.objects.create(
        thread=thread, run=run, tool_call_id="c1", message="DELETE FROM credit", reason="DELETE changes data",
        expires_at=now + timedelta(hours=1),
    )
    Artifact.objects.create(thread=thread, run=run, identifier="credits", artifact_type="table", data=[{"id": 1}])
    with transaction.atomic():
        store.append_event(thread.id, run.id, "start", {"thread_id": str(thread.id)})
        store.append_event(thread.id, run.id, "user_confirmation", {"confirmation_id": str(confirmation.id), "message": confirmation.message})
    return thread, run, confirmation


def make_response(p: Principal) -> Response:
    question = _owned(Question(question="top customers", db_connection=make_data_source(p)), p)
    response = Response.objects.create(question=question, sql_query="SELECT 1", sql_generation_status=Response.Status.VALID)
    with csv_writer(str(response.id)) as sink:  # so the owner's GET .../file is a 200, not "no file"
        sink.write(b"id\n1\n")
    Response.objects.filter(pk=response.pk).update(csv_file_path=sink.location)
    return response


def make_sql_generation(p: Principal) -> SqlGeneration:
    prompt = _owned(Prompt(text="top customers", data_source=make_data_source(p)), p)
    return SqlGeneration.objects.create(prompt=prompt, sql="SELECT 1", status=SqlGeneration.Status.VALID)


def make_document(p: Principal, **scope) -> Document:
    document = _owned(Document(title="alice's notes", kind=Document.Kind.TEXT, chunk_count=1, **scope), p)
    DocumentChunk.objects.create(document=document, index=0, text="private notes")
    return document


# A decision is refused before its confirmation is looked up, so any well-formed id serves.
def _decision_ids() -> dict:
    return {"confirmation_id": str(uuid.uuid4())}


def make(kind: str, p: Principal) -> Made:
    if kind in ("thread", "run"):
        thread, run, confirmation = make_thread_with_history(p)
        return Made(str(thread.id if kind == "thread" else run.id), confirmation_id=str(confirmation.id))
    if kind == "assistant":
        return Made(str(make_assistant(p).id))
    if kind == "julep_agent":
        assistant = make_assistant(p)
        return Made(str(assistant.id), more={"doc_id": str(make_document(p, assistant=assistant).id)})
    if kind == "data_source":
        return Made(str(make_data_source(p).id))
    if kind == "question":
        return Made(str(_owned(Question(question="top customers", db_connection=make_data_source(p)), p).id))
    if kind == "response":
        return Made(str(make_response(p).id), more=_decision_ids())
    if kind == "bi_session":
        return Made(str(session_services.create_bi_session(p, user_id="end-user-1", agent=make_assistant(p)).id), more=_decision_ids())
    if kind == "julep_user":
        user = _owned(EndUser(name="alice's end user"), p)
        return Made(str(user.id), more={"doc_id": str(make_document(p, end_user_id=user.id).id)})
    if kind == "julep_session":
        user = _owned(EndUser(name="alice's end user"), p)
        session = session_services.create_julep_session(p, agent=make_assistant(p), user=user, fields={"situation": "private"})
        return Made(str(session.id), more=_decision_ids())
    if kind == "table_description":
        table = TableDescription.objects.create(
            data_source=make_data_source(p), table_name="salaries", status=TableDescription.Status.SYNCHRONIZED,
            columns=[{"name": "amount", "data_type": "int", "description": "private"}],
        )
        return Made(str(table.id))
    if kind == "golden_sql":
        return Made(str(_owned(GoldenSql(data_source=make_data_source(p), prompt_text="payroll", sql="SELECT 1"), p).id))
    if kind == "instruction":
        return Made(str(_owned(Instruction(data_source=make_data_source(p), instruction="private rule"), p).id))
    if kind == "prompt":  # without SQL yet: nothing the owner's probes start waits for a worker
        return Made(str(_owned(Prompt(text="top customers", data_source=make_data_source(p)), p).id))
    if kind == "sql_generation":
        return Made(str(make_sql_generation(p).id))
    if kind == "nl_generation":
        return Made(str(NlGeneration.objects.create(sql_generation=make_sql_generation(p), text="private answer").id))
    raise AssertionError(f"no factory for {kind!r}")


# Every row a refused request could create, change or delete (API keys are left out: using one
# stamps last_used_at).
SNAPSHOT_MODELS = [
    Assistant, DataSource, Thread, Message, Run, RunEvent, Confirmation, Artifact, Question, Response, EndUser, Session,
    ContextState, Instruction, GoldenSql, TableDescription, Prompt, SqlGeneration, NlGeneration, Document, DocumentChunk,
]


def snapshot() -> dict:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in SNAPSHOT_MODELS}


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def exports(settings, tmp_path):
    settings.VAR_DIR, settings.CSV_S3_BUCKET = tmp_path, None  # CSV files of the response factory
    settings.RUN_CANCEL_REPLY_WAIT = 0  # the factories' runs have no worker to end them


def client_for(principal: Principal) -> Client:
    _, token = ApiKey.issue(name="matrix", tenant=principal.tenant, user_id=principal.user_id)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def routes_by_kind() -> dict[str, list[Route]]:
    """The matrix's routes grouped by the kind of object their first id names. One object of a kind
    serves every refused call about it (each call must leave the database as it was, so the next
    finds the object unchanged): making it, and the transactional test's flush, once per kind
    rather than once per call keeps the matrix fast as it grows."""
    groups: dict[str, list[Route]] = {}
    for route in MATRIX_ROUTES:
        groups.setdefault(route.kind, []).append(route)
    return groups


def db_mark(routes: list[Route]):
    """A transactional database when an async view is among the routes (they read on other
    connections, so the object must be committed), else the fast one."""
    return pytest.mark.django_db(transaction=any(route.is_async for route in routes))


def _cases():
    for kind, routes in routes_by_kind().items():
        for pair in PAIRS:
            marks = [db_mark(routes)]
            reason = PAIR_EXEMPTIONS.get((kind, pair))
            if reason:
                marks.append(pytest.mark.skip(reason=reason))
            yield pytest.param(kind, routes, pair, marks=marks, id=f"{kind} {pair}")


# --- the tests -------------------------------------------------------------------------------


def test_every_object_route_is_in_the_matrix():
    """A new route with an id fails here until it has a factory (or a stated exemption)."""
    problems = []
    for route in MATRIX_ROUTES:
        if route.kind is None:
            problems.append(f"/{route.route}: no factory for parameter {route.params[0]!r}; add it to OBJECT_KINDS")
        if not route.methods:
            problems.append(f"/{route.route}: view {route.callback.__name__} has no known methods: make it a class-based view")
        if "GET" not in route.methods and route.key not in OWNER_PROBES:
            problems.append(f"/{route.route}: no GET, so add an OWNER_PROBES entry showing the owner reaches the object")
    assert not problems, "\n".join(problems)
    # The tables must not outlive the routes they describe.
    keys = {route.key for route in MATRIX_ROUTES}
    assert {key for key, _ in BODIES} <= keys
    assert set(OWNER_PROBES) <= keys
    assert set(MORE_REQUESTS) <= {route.view_class.__name__ for route in MATRIX_ROUTES if route.view_class is not None}
    assert len(MATRIX_ROUTES) >= 40  # 50 today (both spellings of 25 routes): a walk that finds little is broken


@pytest.mark.parametrize(("kind", "routes", "pair"), list(_cases()))
def test_foreign_principal_gets_json_404_and_changes_nothing(exports, kind, routes, pair):
    """Every route about this kind of object, with every method its view serves: each call is
    checked on its own, and every failing call is named."""
    owner, other = PAIRS[pair]
    made = make(kind, owner)
    other_client = client_for(other)
    b_assistant = _owned(Assistant(name="bob's own assistant"), other)
    before = snapshot()
    problems, calls = [], 0
    for route in routes:
        for method in route.methods:
            verb = method.split()[0]
            body_for = BODIES.get((route.key, verb), (lambda made, _: {}) if verb in ("POST", "PUT", "PATCH") else None)
            body = body_for(made, str(b_assistant.id)) if body_for else None

            response = call(other_client, route, method, made, body)

            calls += 1
            where = f"{method} /{route.route}"
            if response.status_code != 404:
                problems.append(f"{where}: {response.status_code} {response.content[:300]!r}")
            elif not response["Content-Type"].startswith("application/json"):
                problems.append(f"{where}: Content-Type {response['Content-Type']}")
            elif "detail" not in response.json():
                problems.append(f"{where}: no detail in {response.content[:300]!r}")
            if snapshot() != before:
                problems.append(f"{where}: a refused request changed the database")
                before = snapshot()  # so a later call is judged on its own change
    assert calls and not problems, "\n".join(problems)


def _owner_cases():
    for kind, routes in routes_by_kind().items():
        yield pytest.param(kind, routes, marks=[db_mark(routes)], id=kind)


@pytest.mark.parametrize(("kind", "routes"), list(_owner_cases()))
def test_owner_reaches_own_object(exports, kind, routes):
    # The other half of the matrix: the same factory, route and credentials work for the owner, so
    # the 404s above come from scoping, not from a missing object or an uncommitted row. A fresh
    # object per route: some probes change it (a cancel, a deleted doc).
    owner, _ = PAIRS["same-tenant"]
    owner_client = client_for(owner)
    problems = []
    for route in routes:
        made = make(kind, owner)
        method, body_for, expected = OWNER_PROBES.get(route.key, ("GET", None, 200))
        response = call(owner_client, route, method, made, body_for(made) if body_for else None)
        if response.status_code != expected:
            problems.append(f"{method} /{route.route}: {response.status_code}, not {expected}: {response.content[:300]!r}")
    assert not problems, "\n".join(problems)


# --- ids in bodies and query strings ---------------------------------------------------------
# The URL conf cannot list these: collection routes that take another owner's id in the body or
# the query. Each names the documented refusal (404, or 400 naming the field) and must change nothing.


@dataclass
class World:
    """Principal A's objects, and principal B's own thread (B may act on it, never with A's ids)."""

    thread: str
    assistant: str
    data_source: str
    confirmation: str
    question: str
    end_user: str
    bi_session: str
    b_thread: str


def make_world(owner: Principal, other: Principal) -> World:
    thread, _, confirmation = make_thread_with_history(owner)
    question = _owned(Question(question="top customers", db_connection=thread.assistant.data_source), owner)
    bi = session_services.create_bi_session(owner, user_id="end-user-1", agent=thread.assistant)
    b_thread, _, _ = make_thread_with_history(other)
    return World(
        thread=str(thread.id), assistant=str(thread.assistant_id), data_source=str(thread.assistant.data_source_id),
        confirmation=str(confirmation.id), question=str(question.id), end_user=str(_owned(EndUser(name="eu"), owner).id),
        bi_session=str(bi.id), b_thread=str(b_thread.id),
    )


@dataclass(frozen=True)
class Reference:
    label: str
    method: str
    path: str  # formatted with w=World
    body: object  # World -> dict, or None
    expected: int  # the documented refusal


HUMAN_INPUT = [{"type": "human", "content": "hi"}]
REFERENCES = [
    Reference("run on a foreign thread", "POST", "/runs", lambda w: {"thread_id": w.thread, "input": HUMAN_INPUT}, 404),
    Reference("streamed run on a foreign thread", "POST", "/runs/stream",
              lambda w: {"thread_id": w.thread, "input": HUMAN_INPUT}, 404),
    Reference("PromptQL thread with a foreign assistant", "POST", "/threads",
              lambda w: {"message": "hi", "assistant_id": w.assistant, "stream": False}, 404),
    Reference("OpenGPTs thread with a foreign assistant", "POST", "/threads",
              lambda w: {"name": "x", "assistant_id": w.assistant}, 404),
    Reference("assistant over a foreign data source", "POST", "/assistants",
              lambda w: {"name": "x", "config": {"configurable": {"data_source_id": w.data_source}}}, 400),
    Reference("question on a foreign connection", "POST", "/api/v1/questions",
              lambda w: {"db_connection_id": w.data_source, "question": "all rows"}, 404),
    Reference("response to a foreign question", "POST", "/api/v1/responses",
              lambda w: {"question_id": w.question, "sql_query": "SELECT 1"}, 404),
    Reference("SQL on a foreign connection", "POST", "/api/v1/sql-query-executions",
              lambda w: {"db_connection_id": w.data_source, "sql_query": "SELECT 1"}, 404),
    Reference("questions filtered by a foreign connection", "GET", "/api/v1/questions?db_connection_id={w.data_source}", None, 404),
    Reference("responses filtered by a foreign question", "GET", "/api/v1/responses?question_id={w.question}", None, 404),
    Reference("BI session with a foreign agent", "POST", "/api/v1/bi/sessions", lambda w: {"user_id": "u", "agent_id": w.assistant}, 404),
    Reference("Julep session with a foreign agent", "POST", "/api/sessions", lambda w: {"agent_id": w.assistant}, 404),
    Reference("Julep agent over a foreign data source", "POST", "/api/agents", lambda w: {"name": "x", "data_source_id": w.data_source}, 404),
    Reference("page thread with a foreign assistant", "POST", "/ui/threads", lambda w: {"assistant_id": w.assistant}, 404),
    Reference("page thread over a foreign data source", "POST", "/ui/threads", lambda w: {"data_source_id": w.data_source}, 404),
    Reference("own thread, foreign confirmation", "POST", "/threads/{w.b_thread}/user_confirmation",
              lambda w: {"confirmation_id": w.confirmation, "confirm": True}, 404),
]


@pytest.mark.django_db(transaction=True)  # some of the views are async: the world must be committed
@pytest.mark.parametrize("pair", list(PAIRS))
def test_foreign_ids_in_bodies_and_queries_are_refused_and_change_nothing(exports, pair):
    """One world serves every reference: each is refused without a change, so the next finds it as
    it was. Each is checked on its own, and every failing one is named."""
    owner, other = PAIRS[pair]
    world = make_world(owner, other)
    client = client_for(other)
    before = snapshot()
    problems = []
    for ref in REFERENCES:
        body = json.dumps(ref.body(world)) if ref.body else ""
        response = client.generic(ref.method, ref.path.format(w=world), body, content_type="application/json")
        if response.status_code != ref.expected:
            problems.append(f"{ref.label}: {response.status_code}, not {ref.expected}: {response.content[:300]!r}")
        elif not response["Content-Type"].startswith("application/json"):
            problems.append(f"{ref.label}: Content-Type {response['Content-Type']}")
        if snapshot() != before:
            problems.append(f"{ref.label}: a refused request changed the database")
            before = snapshot()
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["query", "header"])
def test_bi_sessions_of_another_tenant_stay_404_even_when_asking_for_that_tenant(exports, how):
    # Naming the tenant is not enough: only a service key may act for a tenant other than its own.
    owner, other = PAIRS["cross-tenant"]
    world = make_world(owner, other)
    client = client_for(other)
    if how == "query":
        response = client.get(f"/api/v1/bi/sessions/{world.bi_session}", {"tenant_id": owner.tenant})
        assert response.status_code == 403
    else:
        response = client.get(f"/api/v1/bi/sessions/{world.bi_session}", HTTP_X_TENANT_ID=owner.tenant)
        assert response.status_code == 401
    assert world.bi_session not in response.content.decode()
