"""The run store's rules, for each implementation: the ORM's (any database) and, on PostgreSQL,
the one that writes a run's start, events and end as single statements. Twin threads written by
each must hold the same rows, ids and timestamps aside."""

import threading
import time
import uuid

import pytest
from django.db import connection, transaction

from config.identity import Principal
from threads import bus, services
from threads.models import Confirmation, Message, Run, RunEvent, Thread
from threads.store import BUSY, Conflict, RunStore

pytestmark = pytest.mark.django_db(transaction=True)  # as in production: autocommit outside the store's own transactions

ALICE = Principal("acme", "alice")
STORES = [RunStore]
if connection.vendor == "postgresql":
    from threads.store.postgres import PostgresRunStore

    STORES.append(PostgresRunStore)


@pytest.fixture(params=STORES, ids=lambda cls: cls.__name__)
def store(request, monkeypatch):
    chosen = request.param()
    monkeypatch.setattr(services, "store", chosen)
    return chosen


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr(bus, "publish_thread_events", lambda thread_id, events: calls.append((str(thread_id), [(e.seq, e.type) for e in events])))
    return calls


@pytest.fixture
def enqueued(monkeypatch):
    calls = []
    monkeypatch.setattr("threads.store.orm.enqueue_run", lambda run_id: calls.append(str(run_id)))
    return calls


def written(thread_id) -> dict:
    """What the thread holds, with its own ids replaced by names so twins compare equal."""
    thread = Thread.objects.get(pk=thread_id)
    runs = list(thread.runs.order_by("created_at"))
    messages = list(Message.objects.filter(thread=thread).order_by("seq"))
    names = {str(thread.id): "thread", **{str(run.id): f"run{i}" for i, run in enumerate(runs)}, **{str(m.id): f"message{m.seq}" for m in messages}}

    def name(value):
        return names.get(str(value), value) if value is not None else None

    def named(data):
        return {key: name(value) if key in ("thread_id", "run_id", "confirmation_id") else value for key, value in data.items()}

    return {
        "thread": (thread.name, thread.last_seq, thread.tenant, thread.owner),
        "runs": [(run.status, run.error, run.usage, run.steps, run.config, run.started_by, run.finished_at is not None) for run in runs],
        "messages": [(m.seq, m.role, m.content, name(m.run_id), m.tool_calls, m.metadata) for m in messages],
        "events": [(e.seq, e.type, named(e.data), name(e.run_id), name(e.message_id)) for e in RunEvent.objects.filter(thread=thread).order_by("seq")],
    }


def a_thread(name: str = "") -> Thread:
    thread = Thread(name=name)
    thread.assign_owner(ALICE)
    thread.save()
    return thread


def answer_for(run: Run, text: str = "347 albums."):
    message = Message(thread_id=run.thread_id, run=run, role=Message.Role.AI, content=text, metadata={"model": "m", "usage": None})
    event = RunEvent(thread_id=run.thread_id, run_id=run.id, type="assistant_response_message", message_id=message.id,
                     data={"text": text, "tool_calls": []})
    return message, event


def a_whole_run(store, thread: Thread, question: str, status=Run.Status.COMPLETED, error: str = "") -> Run:
    run = store.start_run(thread, [(Message.Role.HUMAN, question)], config={"max_steps": 3}, name=question)
    store.emit(thread.pk, run.id, "assistant_delta", {"text": "34"})
    answer = answer_for(run) if status == Run.Status.COMPLETED else None
    store.finish_run(run, status, error=error, answer=answer, steps=1, usage={"total_tokens": 7})
    return run


@pytest.mark.parametrize("status, error", [(Run.Status.COMPLETED, ""), (Run.Status.FAILED, "boom"), (Run.Status.CANCELLED, "")])
def test_both_stores_write_the_same_rows_for_a_run(status, error, enqueued):
    twins = []
    for implementation in STORES:
        store = implementation()
        thread = Thread(name="")
        thread.assign_owner(ALICE)  # new: written with its first run
        a_whole_run(store, thread, "How many albums?")
        a_whole_run(store, Thread.objects.get(pk=thread.pk), "And by country?", status, error)
        twins.append(written(thread.pk))
    assert all(twin == twins[0] for twin in twins)
    assert [e[:2] for e in twins[0]["events"]][:4] == [(1, "start"), (2, "assistant_delta"), (3, "assistant_response_message"), (4, "finish")]
    assert twins[0]["thread"][:2] == ("How many albums?", len(twins[0]["events"]))  # named by its first question; the counter is the last seq
    assert [m[0] for m in twins[0]["messages"]] == list(range(1, len(twins[0]["messages"]) + 1))


def test_a_run_starts_committed_then_is_dispatched_and_announced(store, enqueued, published):
    thread = a_thread("Albums")
    run = store.start_run(thread, [(Message.Role.HUMAN, "How many?")])
    assert enqueued == [str(run.id)] and published == [(str(thread.pk), [(1, "start")])]
    assert run.start_event.seq == 1 and Run.objects.get(pk=run.pk).status == Run.Status.QUEUED
    assert Thread.objects.get(pk=thread.pk).name == "Albums"  # a named thread keeps its name


def test_nothing_is_dispatched_or_announced_when_the_transaction_rolls_back(store, enqueued, published):
    thread = a_thread()
    with pytest.raises(RuntimeError), transaction.atomic():
        store.start_run(thread, [(Message.Role.HUMAN, "How many?")])
        raise RuntimeError
    assert enqueued == [] and published == [] and not Run.objects.filter(thread=thread).exists()


def test_a_second_run_on_a_busy_thread_is_a_conflict_and_writes_nothing(store, enqueued, published):
    thread = a_thread()
    store.start_run(thread, [(Message.Role.HUMAN, "First?")])
    before, enqueued[:], published[:] = written(thread.pk), [], []
    with pytest.raises(Conflict, match=BUSY):
        services.do_start_run(thread, "Again?")
    assert written(thread.pk) == before and enqueued == [] and published == []


def test_a_run_on_a_missing_thread_is_not_found(store, enqueued):
    ghost = Thread(id=uuid.uuid4())
    ghost._state.adding = False
    with pytest.raises(Thread.DoesNotExist):
        store.start_run(ghost, [(Message.Role.HUMAN, "Anyone?")])
    assert enqueued == []


def test_a_run_committed_while_the_start_waits_for_the_lock_makes_it_a_conflict(store, enqueued):
    thread = a_thread()
    outcome = []

    def start():
        try:
            store.start_run(thread, [(Message.Role.HUMAN, "Second?")])
            outcome.append("started")
        except Conflict:
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
    assert outcome == ["conflict"] and enqueued == []
    assert not Message.objects.filter(thread=thread).exists()


def test_events_appended_concurrently_take_gap_free_seqs(store):
    thread = a_thread()

    def append(n):
        try:
            for k in range(10):
                store.emit(thread.pk, None, "assistant_delta", {"n": n, "k": k})
        finally:
            connection.close()

    writers = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
    assert list(RunEvent.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True)) == list(range(1, 41))
    assert Thread.objects.get(pk=thread.pk).last_seq == 40


@pytest.mark.parametrize("close", ["decide", "cancel", "timeout", "hand-over"])
def test_every_way_a_confirmation_ends_writes_its_event_and_wakes_the_waiter(store, close, monkeypatch, enqueued):
    from threads import engine

    signalled = []
    monkeypatch.setattr(bus, "signal_confirmation", lambda confirmation_id: signalled.append(str(confirmation_id)))
    monkeypatch.setattr(engine, "store", store)
    thread = a_thread()
    run = store.start_run(thread, [(Message.Role.HUMAN, "Refund?")])
    Run.objects.filter(pk=run.pk).update(status=Run.Status.RUNNING)
    confirmation = engine.request_confirmation(run, "call-1", "DELETE FROM t")
    if close == "decide":
        services.do_decide_confirmation(thread, confirmation.pk, approve=False, decided_by="alice")
        expected = Confirmation.Status.DENIED
    elif close == "cancel":
        services.do_cancel_runs(thread)
        expected = Confirmation.Status.CANCELLED
    elif close == "timeout":
        Confirmation.objects.filter(pk=confirmation.pk).update(expires_at=confirmation.created_at)
        assert engine.wait_for_decision(run, confirmation) == Confirmation.Status.TIMED_OUT
        expected = Confirmation.Status.TIMED_OUT
    else:
        engine.hand_over(Run.objects.get(pk=run.pk), None)
        expected = Confirmation.Status.CANCELLED
    assert Confirmation.objects.get(pk=confirmation.pk).status == expected
    assert signalled == [str(confirmation.pk)]
    decided = RunEvent.objects.filter(thread=thread, type="confirmation_decided").values_list("payload", flat=True)
    assert [RunEvent(payload=payload).data for payload in decided] == [{"confirmation_id": str(confirmation.pk), "status": expected}]
    if close == "decide":
        with pytest.raises(Conflict):
            services.do_decide_confirmation(thread, confirmation.pk, approve=True, decided_by="alice")


def loaded_for_the_loop(run: Run) -> dict:
    """What the agent loop reads from a claimed run, without another query."""
    thread = run.thread
    assistant = thread.assistant
    source = assistant.data_source
    return {
        "run": {field.attname: getattr(run, field.attname) for field in Run._meta.concrete_fields},
        "thread": {field.attname: getattr(thread, field.attname) for field in Thread._meta.concrete_fields},
        "assistant": {field.attname: getattr(assistant, field.attname) for field in type(assistant)._meta.concrete_fields},
        "source": {field.attname: getattr(source, field.attname) for field in type(source)._meta.concrete_fields
                   if field.attname != "schema_cache"},
        "deferred": source.get_deferred_fields(),
    }


def test_both_stores_claim_a_queued_run_loaded_as_the_agent_loop_needs_it(enqueued, django_assert_num_queries):
    from assistants.models import Assistant
    from executor.models import DataSource

    source = DataSource(name="db", engine="sqlite", connection_url="sqlite:////tmp/none.db", schema_cache={"tables": ["big"]})
    source.assign_owner(ALICE)
    source.save()
    assistant = Assistant(name="analyst", instructions="Be careful.", data_source=source, metadata={"querent_default": True})
    assistant.assign_owner(ALICE)
    assistant.save()
    claims = []
    for implementation in STORES:
        store = implementation()
        thread = Thread(name="", assistant=assistant)
        thread.assign_owner(ALICE)
        queued = store.start_run(thread, [(Message.Role.HUMAN, "How many?")], config={"max_steps": 2})
        with django_assert_num_queries(1 if implementation is not RunStore else 2):
            run = store.claim(queued.id, "worker-1")
            claims.append(loaded_for_the_loop(run))
        assert store.claim(queued.id, "worker-2") is None  # taken: another worker's claim finds it running
        stored = Run.objects.get(pk=queued.id)
        assert (stored.status, stored.attempts, stored.worker) == (Run.Status.RUNNING, 1, "worker-1")
        assert stored.started_at == stored.heartbeat_at == run.started_at
    for claim in claims:
        assert claim["deferred"] == {"schema_cache"}  # read only if asked for
        for volatile in ("id", "thread_id", "created_at", "started_at", "heartbeat_at"):
            claim["run"].pop(volatile)
        for volatile in ("id", "created_at", "updated_at"):
            claim["thread"].pop(volatile)
    assert all(claim == claims[0] for claim in claims)
    assert claims[0]["run"]["config"] == {"max_steps": 2} and claims[0]["source"]["name"] == "db"


def test_a_thread_without_assistant_is_claimed_with_none(store, enqueued):
    thread = a_thread()
    run = store.claim(store.start_run(thread, [(Message.Role.HUMAN, "Hi?")]).id, "w")
    assert run.thread.pk == thread.pk and run.thread.assistant is None


@pytest.mark.parametrize("state", ["cancelled", "out of attempts", "missing"])
def test_a_run_that_is_not_simply_queued_is_not_claimed(store, enqueued, state):
    from django.conf import settings

    thread = a_thread()
    run = store.start_run(thread, [(Message.Role.HUMAN, "Hi?")])
    if state == "cancelled":
        Run.objects.filter(pk=run.pk).update(cancel_requested=True)
    elif state == "out of attempts":
        Run.objects.filter(pk=run.pk).update(attempts=settings.RUN_MAX_ATTEMPTS)
    run_id = uuid.uuid4() if state == "missing" else run.id
    assert store.claim(run_id, "w") is None
    if state != "missing":
        assert Run.objects.get(pk=run.pk).status == (Run.Status.CANCELLED if state == "cancelled" else Run.Status.FAILED)


def test_both_stores_read_the_same_history(enqueued):
    thread = a_thread()
    run = RunStore().start_run(thread, [(Message.Role.HUMAN, "How many albums?")])
    calls = [{"id": "c1", "name": "execute_python", "arguments": "{}"}]
    RunStore().add_reply(Message(thread_id=thread.pk, run=run, role=Message.Role.AI, content="", tool_calls=calls),
                         RunEvent(thread_id=thread.pk, run_id=run.id, type="assistant_response_message", data={}))
    RunStore().add_reply(Message(thread_id=thread.pk, run=run, role=Message.Role.TOOL, content="347", tool_call_id="c1", name="execute_python"),
                         RunEvent(thread_id=thread.pk, run_id=run.id, type="tool_response_message", data={}))
    fields = ("id", "seq", "role", "content", "tool_calls", "tool_call_id")
    for after_seq in (None, 1):
        read = [[tuple(getattr(m, name) for name in fields) for m in implementation().history(thread.pk, after_seq)] for implementation in STORES]
        assert all(history == read[0] for history in read)
        assert [row[1:3] for row in read[0]] == [(1, "human"), (2, "ai"), (3, "tool")][1 if after_seq else 0:]
    assert read[0][0][4] == calls
