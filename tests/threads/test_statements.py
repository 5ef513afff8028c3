"""A run's start and end as one PostgreSQL statement: one round trip, the same rows as the ORM path.

The ORM path is what SQLite (and any caller inside a transaction) takes; each test runs both on
twin threads and compares what they wrote, ids and timestamps aside.
"""

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from config.identity import Principal
from threads import bus, services
from threads.models import Message, Run, RunEvent, Thread

pytestmark = [
    pytest.mark.django_db(transaction=True),  # outside a transaction, where the one-statement path applies
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]

ALICE = Principal("acme", "alice")


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr(bus, "publish_thread_events", lambda thread_id, events: calls.append((str(thread_id), [(e.seq, e.type) for e in events])))
    return calls


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr(services, "enqueue_run", lambda run_id: calls.append(str(run_id)))
    return calls


def started_run() -> Run:
    """A thread with its question and a running run, as the engine finds it before the answer."""
    thread = Thread(name="twin")
    thread.assign_owner(ALICE)
    thread.save()
    run = Run.objects.create(thread=thread, status=Run.Status.RUNNING)
    with transaction.atomic():
        services.add_message(thread, role=Message.Role.HUMAN, content="How many albums?", run=run)
        services.append_event(thread.id, run.id, "start", {"thread_id": str(thread.id)})
    return run


def answer_for(run: Run, text: str = "347 albums."):
    message = Message(thread_id=run.thread_id, run=run, role=Message.Role.AI, content=text, metadata={"model": "m", "usage": None})
    event = RunEvent(thread_id=run.thread_id, run_id=run.id, type="assistant_response_message", message_id=message.id,
                     data={"text": text, "tool_calls": []})
    return message, event


def written(thread_id) -> dict:
    """What the thread holds, with its own ids replaced by names so twins compare equal."""
    thread = Thread.objects.get(pk=thread_id)
    names = {str(thread.id): "thread", **{str(run.id): f"run{i}" for i, run in enumerate(thread.runs.order_by("created_at"))}}
    messages = list(Message.objects.filter(thread=thread).order_by("seq"))
    names.update({str(m.id): f"message{m.seq}" for m in messages})

    def name(value):
        return names.get(str(value), value) if value is not None else None

    def named(data):
        return {key: name(value) if key in ("thread_id", "run_id") else value for key, value in data.items()}

    return {
        "thread": (thread.name, thread.last_seq, thread.tenant, thread.owner, thread.assistant_id is not None),
        "runs": [(run.status, run.error, run.usage, run.steps, run.finished_at is not None) for run in thread.runs.order_by("created_at")],
        "messages": [(m.seq, m.role, m.content, name(m.run_id), m.tool_calls, m.metadata) for m in messages],
        "events": [(e.seq, e.type, named(e.data), name(e.run_id), name(e.message_id)) for e in RunEvent.objects.filter(thread=thread).order_by("seq")],
    }


@pytest.mark.parametrize("status, error, answered", [
    (Run.Status.COMPLETED, "", True),
    (Run.Status.FAILED, "The language model failed: boom", False),
    (Run.Status.CANCELLED, "", False),
])
def test_a_run_ends_in_one_statement_with_the_rows_of_the_orm_path(published, status, error, answered):
    one, orm = started_run(), started_run()
    used = {"usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11, "cost_usd": 0.0}, "steps": 1}
    published.clear()  # the twins' `start` events

    with CaptureQueriesContext(connection) as queries:
        services.do_finish_run(one, status, error=error, answer=answer_for(one) if answered else None, **used)
    assert len(queries) == 1 and queries[0]["sql"].startswith("WITH ")

    with transaction.atomic():  # inside a transaction the ORM path is taken
        services.do_finish_run(orm, status, error=error, answer=answer_for(orm) if answered else None, **used)

    assert written(one.thread_id) == written(orm.thread_id)
    state = written(one.thread_id)
    assert state["runs"] == [(status, error, used["usage"], 1, True)]
    types = [e[1] for e in state["events"]]
    assert types == {"completed": ["start", "assistant_response_message", "finish"], "failed": ["start", "error"],
                     "cancelled": ["start", "run_cancelled", "finish"]}[status]
    assert [e[0] for e in state["events"]] == list(range(1, len(types) + 1)) and state["thread"][1] == len(types)
    # One wake-up with every event of the statement, sent after it committed.
    assert published[0] == (str(one.thread_id), [(seq, t) for seq, t in enumerate(types[1:], start=2)])
    assert one.status == status and one.finished_at is not None


def test_the_answer_takes_the_threads_next_message_seq():
    run = started_run()
    with transaction.atomic():
        services.add_message(Thread(pk=run.thread_id), role=Message.Role.TOOL, content="rows", run=run, tool_call_id="c1")
    services.do_finish_run(run, Run.Status.COMPLETED, answer=answer_for(run))
    assert list(Message.objects.filter(thread_id=run.thread_id).order_by("seq").values_list("seq", "role")) == [
        (1, "human"), (2, "tool"), (3, "ai"),
    ]


def test_a_statement_that_fails_writes_nothing(published):
    run = started_run()
    message, event = answer_for(run)
    duplicate = Message.objects.filter(thread_id=run.thread_id).first()
    message.id = duplicate.id  # the insert collides with an existing row
    published.clear()

    with pytest.raises(IntegrityError):
        services.do_finish_run(run, Run.Status.COMPLETED, answer=(message, event))

    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING and run.finished_at is None
    assert list(RunEvent.objects.filter(thread_id=run.thread_id).values_list("type", flat=True)) == ["start"]
    assert Thread.objects.get(pk=run.thread_id).last_seq == 1
    assert published == []


def test_a_question_on_a_new_thread_starts_in_one_statement_with_the_rows_of_the_orm_path(published, enqueued):
    services.default_assistant(ALICE)  # made on first use; both twins find it

    with CaptureQueriesContext(connection) as queries:
        thread, run = services.do_ask(ALICE, None, "Top customers by revenue?")
    # Finding the default assistant, then the thread, run, message and `start` event together.
    assert len(queries) == 2 and queries[1]["sql"].startswith("WITH ")
    assert thread.last_seq == 0  # the thread as it was before the run
    assert enqueued == [str(run.id)]
    assert published == []  # nobody can follow a thread that did not exist: the caller has run.start_event
    assert run.start_event.seq == 1 and run.start_event.type == "start"

    with transaction.atomic():
        orm_thread, _ = services.do_ask(ALICE, None, "Top customers by revenue?")

    assert written(thread.id) == written(orm_thread.id)
    assert written(thread.id)["events"] == [(1, "start", {"thread_id": "thread"}, "run0", "message1")]
    assert Thread.objects.get(pk=thread.id).assistant_id == Thread.objects.get(pk=orm_thread.id).assistant_id


def test_a_run_dispatched_before_its_write_committed_is_claimed_once_it_is():
    """A new thread's run reaches the worker before the statement that writes it may have
    committed (services._start_on_new_thread): the claim waits for it."""
    import threading
    import time
    import uuid

    from threads import engine

    thread = services.create_thread(ALICE, name="early")
    run_id = uuid.uuid4()
    claimed = []

    def worker():
        claimed.append(engine.claim(run_id, "early-worker"))
        connection.close()

    waiting = threading.Thread(target=worker)
    waiting.start()
    time.sleep(0.1)
    Run.objects.create(id=run_id, thread=thread)
    waiting.join(10)
    assert claimed and claimed[0] is not None
    assert (claimed[0].pk, claimed[0].status, claimed[0].worker) == (run_id, Run.Status.RUNNING, "early-worker")


def test_a_run_that_is_never_written_is_given_up(settings):
    import time
    import uuid

    from threads import engine

    settings.RUN_VISIBLE_WITHIN = 0.2
    started = time.monotonic()
    assert engine.claim(uuid.uuid4(), "w") is None
    assert 0.2 <= time.monotonic() - started < 5


@pytest.fixture
def round_trips(monkeypatch):
    """round_trips() -> [pipelines, queries]: psycopg pipelines (one round trip each) and queries
    sent through Django's cursors from now on."""
    connection.ensure_connection()
    real = type(connection.connection).pipeline
    counts = []

    def pipeline(self):
        if counts:
            counts[-1][0] += 1
        return real(self)

    monkeypatch.setattr(type(connection.connection), "pipeline", pipeline)
    with CaptureQueriesContext(connection) as queries:
        def start():
            counts.append([0, len(queries)])
            return lambda: (counts[-1][0], len(queries) - counts[-1][1])
        yield start


def finished_thread(name: str = "") -> Thread:
    """A thread whose first run has ended: question (message 1), answer (2), events 1-3."""
    run = started_run()
    services.do_finish_run(run, Run.Status.COMPLETED, answer=answer_for(run))
    Thread.objects.filter(pk=run.thread_id).update(name=name)
    return Thread.objects.get(pk=run.thread_id)


def test_a_run_on_an_existing_thread_starts_in_one_round_trip_with_the_rows_of_the_orm_path(published, enqueued, round_trips):
    services.do_start_run(finished_thread(), "Warm?")  # the lock's SQL is compiled on a thread's first start
    thread, twin = finished_thread(), finished_thread()
    published.clear()
    enqueued.clear()
    turns = [(Message.Role.SYSTEM, "Be brief."), (Message.Role.AI, "Sure.")]

    counted = round_trips()
    second = services.do_start_run(thread, "And by country?", input_messages=turns)
    assert counted() == (1, 0)  # the lock and the statement, pipelined; nothing else
    with transaction.atomic():  # inside a transaction the ORM path is taken
        services.do_start_run(twin, "And by country?", input_messages=turns)

    assert written(thread.pk) == written(twin.pk)
    assert list(Message.objects.filter(thread=thread).order_by("seq").values_list("seq", "role", "content", "run_id"))[2:] == [
        (3, "system", "Be brief.", second.id), (4, "ai", "Sure.", second.id), (5, "human", "And by country?", second.id),
    ]
    start = RunEvent.objects.get(thread=thread, type="start", run=second)
    assert start.seq == 4 and start.data == {"thread_id": str(thread.pk)}
    assert start.message_id == Message.objects.get(thread=thread, seq=5).id
    assert Thread.objects.get(pk=thread.pk).name == "And by country?"  # a first question names a nameless thread
    # Dispatched and announced once committed.
    assert published[0] == (str(thread.pk), [(4, "start")]) and enqueued[0] == str(second.id)
    assert published[1][1] == [(4, "start")] and len(enqueued) == 2  # the twin's, after its commit
    assert second.start_event.seq == 4 and second.status == Run.Status.QUEUED


def test_a_named_thread_keeps_its_name():
    thread = finished_thread(name="Albums")
    services.do_start_run(thread, "And by country?")
    assert Thread.objects.get(pk=thread.pk).name == "Albums"


def test_start_on_thread_returns_the_thread_as_locked_before_the_run(enqueued):
    thread = finished_thread()
    locked, run = services.start_on_thread(ALICE, str(thread.pk), [(Message.Role.HUMAN, "More?")], {"max_steps": 3})
    assert (locked.pk, locked.last_seq) == (thread.pk, 3) and run.start_event.seq == 4
    assert Run.objects.get(pk=run.pk).config == {"max_steps": 3} and enqueued == [str(run.id)]


@pytest.mark.parametrize("who", [Principal("acme", "bob"), Principal("other", "alice")], ids=["another user", "same user id in another tenant"])
def test_start_on_someone_elses_thread_is_not_found_and_writes_nothing(who, enqueued, published):
    thread = finished_thread()
    before = written(thread.pk)
    published.clear()
    with pytest.raises(Thread.DoesNotExist):
        services.start_on_thread(who, thread.pk, [(Message.Role.HUMAN, "Mine now?")], None)
    assert written(thread.pk) == before and enqueued == [] and published == []


def test_start_on_an_unknown_thread_is_not_found():
    import uuid

    with pytest.raises(Thread.DoesNotExist):
        services.start_on_thread(ALICE, uuid.uuid4(), [(Message.Role.HUMAN, "Anyone?")], None)


def test_start_with_another_assistant_leaves_the_switch_to_the_caller(enqueued):
    from assistants.models import Assistant

    first, other = (Assistant(name=name) for name in ("first", "other"))
    for assistant in (first, other):
        assistant.assign_owner(ALICE)
        assistant.save()
    thread = finished_thread()
    Thread.objects.filter(pk=thread.pk).update(assistant=first)
    before = written(thread.pk)

    assert services.start_on_thread(ALICE, thread.pk, [(Message.Role.HUMAN, "Hi")], None, assistant_id=other.pk) is None
    assert written(thread.pk) == before and enqueued == []
    _, run = services.start_on_thread(ALICE, thread.pk, [(Message.Role.HUMAN, "Hi")], None, assistant_id=first.pk)
    assert run.thread_id == thread.pk and enqueued == [str(run.id)]


def test_a_run_committed_while_the_start_waits_for_the_lock_makes_it_a_conflict(enqueued):
    """The statement is sent before the lock's answer, yet runs after the lock is granted: it sees a
    run that another transaction committed while it waited."""
    import threading
    import time

    thread = finished_thread()
    outcome = []

    def start():
        try:
            services.start_on_thread(ALICE, thread.pk, [(Message.Role.HUMAN, "Second?")], None)
            outcome.append("started")
        except services.Conflict:
            outcome.append("conflict")
        finally:
            connection.close()

    with transaction.atomic():
        Thread.objects.select_for_update().get(pk=thread.pk)  # as another start holds it
        waiting = threading.Thread(target=start)
        waiting.start()
        time.sleep(0.3)
        assert outcome == []  # blocked on the lock
        Run.objects.create(thread=thread, status=Run.Status.QUEUED)
    waiting.join(10)
    assert outcome == ["conflict"]
    assert Run.objects.filter(thread=thread).count() == 2 and Message.objects.filter(thread=thread).count() == 2
    assert enqueued == []


def test_a_second_run_on_a_busy_thread_writes_nothing(enqueued):
    run = started_run()
    thread = Thread.objects.get(pk=run.thread_id)
    with pytest.raises(services.Conflict):
        services.do_start_run(thread, "Again?")
    assert Run.objects.filter(thread=thread).count() == 1 and Message.objects.filter(thread=thread).count() == 1
    assert Thread.objects.get(pk=thread.pk).last_seq == 1 and enqueued == []


@pytest.mark.parametrize("owner, public, allowed", [
    (ALICE, False, True),
    (Principal("acme", "bob"), True, True),  # a public assistant of the same tenant
    (Principal("acme", "bob"), False, False),
    (Principal("other", "bob"), True, False),  # public, but in another tenant
])
def test_an_opengpts_thread_is_created_in_one_statement_only_on_a_readable_assistant(owner, public, allowed, round_trips):
    from assistants.models import Assistant
    from rest_framework.exceptions import ValidationError

    from threads.opengpts import services as opengpts

    assistant = Assistant(name="a", public=public)
    assistant.assign_owner(owner)
    assistant.save()
    data = {"assistant_id": assistant.pk, "name": "t", "metadata": {"k": 1}}
    counted = round_trips()
    if not allowed:
        with pytest.raises(ValidationError, match="assistant not found"):
            opengpts.create_thread(ALICE, data)
        assert not Thread.objects.filter(assistant=assistant).exists()
        return
    thread = opengpts.create_thread(ALICE, data)
    assert counted() == (0, 1)  # one statement, no pipeline: the check is inside it
    saved = Thread.objects.get(pk=thread.pk)
    assert (saved.tenant, saved.owner, saved.assistant_id, saved.name, saved.metadata) == ("acme", "alice", assistant.pk, "t", {"k": 1})
    assert (saved.created_at, saved.updated_at) == (thread.created_at, thread.updated_at)
    with transaction.atomic():  # the ORM path: the same row
        twin = opengpts.create_thread(ALICE, data)
    assert [getattr(Thread.objects.get(pk=twin.pk), f) for f in ("tenant", "owner", "assistant_id", "name", "metadata", "last_seq")] == \
        [getattr(saved, f) for f in ("tenant", "owner", "assistant_id", "name", "metadata", "last_seq")]
