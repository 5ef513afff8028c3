"""The event log's ordering: per-thread seqs are exactly 1..N, and reading after k returns exactly
the events with seq > k, in order, however appends interleave (across runs, threads, transactions
that roll back, and concurrent writers on their own connections).

Every stream (SSE, JSON replay, websocket, OpenGPTs) resumes by "after seq", so a gap, a duplicate
or an out-of-order row here is a missed or repeated event for every client.
"""

import json
import threading
import uuid

import pytest
from django.db import connection, transaction
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistants.models import ApiKey
from config.identity import Principal
from threads.events import PROMPTQL_EVENTS
from threads.store import store
from threads.models import Run, RunEvent, Thread

OWNER = Principal("acme", "log-owner")
TYPES = ["start", "assistant_delta", "assistant_response_message", "tool_response_message", "confirmation_decided",
         "run_retry", "user_confirmation", "finish"]
THREADS, RUNS_PER_THREAD = 3, 2

# Database-backed examples: fewer of them, no deadline (a slow CI database is not a failure).
DB_EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def new_thread(principal: Principal = OWNER) -> Thread:
    thread = Thread(name="log")
    thread.assign_owner(principal)
    thread.save()
    return thread


def new_threads_with_runs(principal: Principal = OWNER) -> list[tuple[Thread, list[Run]]]:
    """Fresh threads each example: the rows of earlier examples stay in the database."""
    made = []
    for _ in range(THREADS):
        thread = new_thread(principal)
        runs = [Run.objects.create(thread=thread, status=Run.Status.COMPLETED) for _ in range(RUNS_PER_THREAD)]
        made.append((thread, runs))
    return made


def logged(thread: Thread) -> list[tuple]:
    return [(e.seq, e.run_id, e.type, e.data["mark"]) for e in RunEvent.objects.filter(thread=thread).order_by("seq")]


# One append: (which thread, which of its runs or None, event type).
appends = st.tuples(st.integers(0, THREADS - 1), st.one_of(st.none(), st.integers(0, RUNS_PER_THREAD - 1)), st.sampled_from(TYPES))
# A transaction holds one or more appends and commits or rolls back as a whole; its appends are
# written one by one, or a thread's together in one append_events call (as a run's end is).
transactions = st.tuples(st.lists(appends, min_size=1, max_size=4), st.booleans(), st.booleans())


class RolledBack(Exception):
    pass


def apply(made, plan) -> dict:
    """Run the plan; return, per thread id, the (run id, type, mark) of each committed append in order."""
    expected = {thread.id: [] for thread, _ in made}
    mark = 0
    for steps, commit, together in plan:
        pending = []
        try:
            with transaction.atomic():
                batches = {}
                for thread_index, run_index, type_ in steps:
                    thread, runs = made[thread_index]
                    run_id = None if run_index is None else runs[run_index].id
                    mark += 1
                    event = RunEvent(thread_id=thread.id, run_id=run_id, type=type_, data={"mark": mark})
                    if together:
                        batches.setdefault(thread.id, []).append(event)
                    else:
                        store.append_events(thread.id, [event])
                    pending.append((thread.id, (run_id, type_, mark)))
                for thread_id, events in batches.items():
                    store.append_events(thread_id, events)
                if not commit:
                    raise RolledBack
        except RolledBack:
            continue
        for thread_id, item in pending:
            expected[thread_id].append(item)
    return expected


def events_after(thread, after: int):
    return RunEvent.objects.filter(thread=thread, seq__gt=after).order_by("seq")


# --- one connection: interleavings and rollbacks -----------------------------------------------


@pytest.mark.django_db
@DB_EXAMPLES
@given(plan=st.lists(transactions, max_size=15), probe=st.integers(min_value=0, max_value=80))
def test_each_thread_gets_seqs_1_to_n_in_commit_order(plan, probe):
    made = new_threads_with_runs()
    expected = apply(made, plan)
    for thread, _ in made:
        want = [(seq, *item) for seq, item in enumerate(expected[thread.id], start=1)]
        # A rolled-back append gives its seq back: the counter moves in the same transaction.
        assert logged(thread) == want
        thread.refresh_from_db()
        assert thread.last_seq == len(want)
        for after in {0, 1, len(want) // 2, len(want) - 1, len(want), len(want) + 1, probe}:
            if after < 0:
                continue
            seqs = [e.seq for e in events_after(thread, after)]
            assert seqs == list(range(after + 1, len(want) + 1)), after


@pytest.mark.django_db
def test_append_numbers_past_a_thousand_events_without_a_gap():
    thread = new_thread()
    with transaction.atomic():
        for i in range(1205):
            store.append_event(thread.id, None, "assistant_delta", {"mark": i})
    assert [e.seq for e in events_after(thread, 0)] == list(range(1, 1206))


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused_and_leaves_no_trace():
    # The seq and the state it describes must commit together; an autocommit append could not.
    thread = new_thread()
    with pytest.raises(RuntimeError):
        store.append_event(thread.id, None, "start", {})
    thread.refresh_from_db()
    assert thread.last_seq == 0 and not RunEvent.objects.filter(thread=thread).exists()


@pytest.mark.django_db
def test_append_to_a_missing_thread_raises_and_bumps_nothing():
    missing = uuid.uuid4()
    with pytest.raises(Thread.DoesNotExist), transaction.atomic():
        store.append_event(missing, None, "start", {})
    assert not RunEvent.objects.filter(thread_id=missing).exists()


# --- the HTTP replay: GET /threads/{id}/events?after=k and SSE resume with Last-Event-ID ------


@pytest.fixture
def owner_client(transactional_db):
    _, token = ApiKey.issue(name="log", tenant=OWNER.tenant, user_id=OWNER.user_id)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def json_replay(client, thread, after: int, *, all_events: bool = True) -> dict:
    query = {"after": after, **({"events": "all"} if all_events else {})}
    response = client.get(f"/threads/{thread.id}/events", query)
    assert response.status_code == 200, response.content
    return response.json()


def sse_replay(client, thread, last_event_id: int) -> list[tuple[int, str, dict]]:
    response = client.get(
        f"/threads/{thread.id}/events", {"events": "all"}, HTTP_ACCEPT="text/event-stream", HTTP_LAST_EVENT_ID=str(last_event_id)
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    body = b"".join(response).decode()  # the test client hands back the async stream; this drains it
    frames = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            frames.append((int(fields["id"]), fields["event"], json.loads(fields["data"])))
    return frames


@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume asynchronous iterators")
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(plan=st.lists(transactions, min_size=1, max_size=10), data=st.data())
def test_replay_after_k_returns_exactly_the_later_events_in_order(owner_client, plan, data):
    # The runs are finished, so the endpoints replay and stop instead of following a live run.
    made = new_threads_with_runs()
    expected = apply(made, plan)
    thread, _ = made[data.draw(st.integers(0, THREADS - 1), label="thread")]
    want = [(seq, type_, {"mark": mark}) for seq, (_, type_, mark) in enumerate(expected[thread.id], start=1)]
    after = data.draw(st.integers(0, len(want) + 1), label="after")

    body = json_replay(owner_client, thread, after)
    assert [(e["id"], e["event"], e["data"]) for e in body["events"]] == want[after:]
    assert body["last_seq"] == (want[-1][0] if want[after:] else after)

    assert sse_replay(owner_client, thread, after) == want[after:]

    # Without ?events=all a PromptQL client gets its own event types, still in seq order.
    seed_only = json_replay(owner_client, thread, after, all_events=False)["events"]
    assert [(e["id"], e["event"]) for e in seed_only] == [(s, t) for s, t, _ in want[after:] if t in PROMPTQL_EVENTS]

    # A client that saw up to `after` and reconnects sees everything else exactly once.
    first = json_replay(owner_client, thread, 0)["events"][:after]
    assert [e["id"] for e in first] + [e["id"] for e in body["events"]] == [s for s, _, _ in want]


# --- many writers, each on its own connection ------------------------------------------------


def _writer(thread_ids, ops, barrier, errors, marks):
    """One Python thread = one Django connection; appends in its own short transactions."""
    try:
        barrier.wait(timeout=30)
        for index, (thread_index, group) in enumerate(ops):
            with transaction.atomic():
                for k in range(group):
                    event = store.append_event(thread_ids[thread_index], None, "assistant_delta", {"mark": f"{threading.get_ident()}:{index}:{k}"})
                    marks.append((thread_ids[thread_index], event.seq, event.data["mark"]))
    except Exception as exc:  # noqa: BLE001 - reported by the test thread
        errors.append(exc)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    writers=st.lists(
        st.lists(st.tuples(st.integers(0, 1), st.integers(1, 3)), min_size=1, max_size=12),
        min_size=2, max_size=6,
    )
)
def test_concurrent_writers_get_a_gapless_unique_sequence(writers):
    threads = [new_thread(), new_thread()]
    thread_ids = [t.id for t in threads]
    barrier, errors, marks = threading.Barrier(len(writers)), [], []
    workers = [threading.Thread(target=_writer, args=(thread_ids, ops, barrier, errors, marks)) for ops in writers]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    assert not any(worker.is_alive() for worker in workers)

    for index, thread in enumerate(threads):
        total = sum(group for ops in writers for t, group in ops if t == index)
        seqs = list(RunEvent.objects.filter(thread=thread).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, total + 1))
        thread.refresh_from_db()
        assert thread.last_seq == total
        # Each writer's own appends keep its order, and the seq it was told is the one stored.
        stored = dict(RunEvent.objects.filter(thread=thread).values_list("payload", "seq"))
        told = [(seq, mark) for tid, seq, mark in marks if tid == thread.id]
        assert all(stored[json.dumps({"mark": mark})] == seq for seq, mark in told)
        by_writer: dict[str, list[int]] = {}
        for seq, mark in told:
            by_writer.setdefault(mark.split(":")[0], []).append(seq)
        assert all(seqs_of_one == sorted(seqs_of_one) for seqs_of_one in by_writer.values())


@pytest.mark.django_db(transaction=True)
def test_emit_commits_each_event_on_its_own():
    # emit is the helper for events that describe nothing else: each one is visible once it returns.
    thread = new_thread()
    for i in range(5):
        store.emit(thread.id, None, "run_retry", {"mark": i})
        assert RunEvent.objects.filter(thread=thread).count() == i + 1
    assert [e.seq for e in events_after(thread, 2)] == [3, 4, 5]
