"""Writes with side effects on threads, runs and confirmations (each: change state, then publish)."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from assistants.models import Assistant
from config.identity import Principal
from config.prepared import PreparedRead, Statement, together

from . import bus, statements
from .events import append_built, append_event, written_together
from .models import Confirmation, Message, Run, RunEvent, Thread

log = logging.getLogger(__name__)


class Conflict(Exception):
    """The request is valid but the object's state does not allow it (HTTP 409)."""


BUSY = "a run is already in progress on this thread; wait for it or cancel it"


def default_assistant(principal: Principal) -> Assistant:
    """The principal's default assistant, created on first use over the first data source they may use."""
    from executor.models import DataSource

    assistant = Assistant.objects.visible_to(principal).filter(metadata__querent_default=True).first()
    if assistant is not None:
        return assistant
    data_source = DataSource.objects.default_for(principal)
    assistant = Assistant(
        name="Data analyst",
        instructions="You are a careful data analyst. Answer from the data; say when the data cannot answer.",
        data_source=data_source,
        metadata={"querent_default": True},
    )
    assistant.assign_owner(principal)
    assistant.save()
    return assistant


# Read for every question on a new thread, so compiled once per thread of the web process.
_default_assistant_ids = PreparedRead(
    lambda tenant, owner: Assistant.objects.filter(tenant=tenant, owner=owner, metadata__querent_default=True)
    .order_by("-updated_at").values_list("id")[:1],
    ("\x00tenant", "\x00owner"),
)


def default_assistant_id(principal: Principal):
    """default_assistant(principal).id, reading only the id when the assistant exists."""
    found = _default_assistant_ids.read(principal.tenant, principal.user_id)
    return found[0][0] if found else default_assistant(principal).id


def next_message_seq(thread_id) -> int:
    current = Message.objects.filter(thread_id=thread_id).aggregate(top=Max("seq"))["top"]
    return (current or 0) + 1


def new_thread(principal: Principal, *, assistant_id, name: str = "", metadata: dict | None = None) -> Thread:
    """The principal's thread on `assistant_id`, not yet written (its name cut to the column)."""
    thread = Thread(assistant_id=assistant_id, name=name[:300], metadata=metadata or {})
    thread.assign_owner(principal)
    return thread


def create_thread(principal: Principal, *, assistant: Assistant | None = None, name: str = "", metadata: dict | None = None, thread_id=None) -> Thread:
    assistant = assistant or default_assistant(principal)
    thread = new_thread(principal, assistant_id=assistant.id, name=name, metadata=metadata)
    thread.assistant = assistant  # the caller's loaded row, not a second read
    if thread_id is not None:
        thread.id = thread_id
    thread.save(force_insert=True)
    return thread


def add_message(thread: Thread, *, role: str, content: str, run: Run | None = None, seq: int | None = None, **fields) -> Message:
    return save_message(Message(thread=thread, run=run, role=role, content=content, **fields), seq=seq)


def save_message(message: Message, *, seq: int | None = None) -> Message:
    """Write a new message at the thread's next seq (call inside the transaction that needs it)."""
    message.seq = next_message_seq(message.thread_id) if seq is None else seq
    message.save(force_insert=True)
    return message


def save_reply(message: Message, event: RunEvent) -> None:
    """Write a model's message and the event that shows it, both built beforehand (call inside
    a transaction)."""
    save_message(message)
    append_built(event)


def _start_event(thread_id, run_id, human: Message | None) -> RunEvent:
    return RunEvent(thread_id=thread_id, run_id=run_id, type="start", data={"thread_id": str(thread_id)},
                    message_id=human.id if human else None)


def do_start_run(thread: Thread, message: str | None, *, config: dict | None = None, input_messages=None, new_thread: bool = False,
                 acting: Principal | None = None, operator: bool = False) -> Run:
    """Record the user's message(s) and a queued run, emit `start`, then hand the run to a worker.

    `input_messages` ([(role, content)]) adds several messages at once (OpenGPTs input).
    `new_thread`: the thread was created in the caller's transaction, so nobody else can see it
    yet: no lock, no run in progress, no messages, its name already set (four round trips fewer).
    `acting`: who asks, when that may be someone other than the thread's owner (a tenant-mate in a
    BI session); the run uses data sources as they may. `operator`: a staff member's test run.
    """
    turns = (input_messages or []) + ([(Message.Role.HUMAN, message)] if message is not None else [])
    who = started_by(thread, acting, operator)
    if not new_thread and statements.available():
        _, run = start_on_thread(Principal(thread.tenant, thread.owner), thread.pk, turns, config, name=message, who=who)
        return run
    with transaction.atomic(savepoint=not new_thread):
        if new_thread:
            locked, next_seq = thread, 1
        else:
            # Lock the thread: one run at a time per thread keeps the history linear.
            locked = Thread.objects.select_for_update().get(pk=thread.pk)
            if Run.objects.filter(thread=locked, status__in=Run.ACTIVE).exists():
                raise Conflict(BUSY)
            next_seq = None
            if not locked.name and message:
                Thread.objects.filter(pk=locked.pk, name="").update(name=message[:80])  # a first question names the thread
            if transaction.get_connection().vendor == "postgresql":
                return _start_on_locked_thread(locked, turns, config, who)
        run = Run.objects.create(thread=locked, config=config or {}, **who)
        human = None
        for role, content in turns:
            added = add_message(locked, role=role, content=content, run=run, seq=next_seq)
            next_seq = None if next_seq is None else next_seq + 1
            human = added if role == Message.Role.HUMAN else human
        run.start_event = append_built(_start_event(locked.id, run.id, human))
        transaction.on_commit(lambda: enqueue_run(run.id))
    return run


_ANY = uuid.UUID(int=0)  # placeholder ids for the reads below, compiled once per thread
# The lock a run on an existing thread takes, with the principal's scope.
_locked_visible_thread = PreparedRead(
    lambda tenant, owner, pk: Thread.objects.visible_to(Principal(tenant, owner)).select_for_update().filter(pk=pk),
    ("\x00tenant", "\x00owner", _ANY),
)


def started_by(thread: Thread, acting: Principal | None, operator: bool = False) -> dict:
    """The run's `started_by` fields: empty when the thread's owner asks (the usual case)."""
    who = {}
    if acting is not None and acting.user_id != thread.owner:
        who["started_by"] = acting.user_id[:200]
    if operator:
        who["started_by_operator"] = True
    return who


def start_on_thread(principal: Principal, thread_id, turns: list, config: dict | None, *, name: str | None = None,
                    assistant_id=None, who: dict | None = None) -> tuple[Thread, Run] | None:
    """do_start_run() on the principal's existing thread in one round trip (PostgreSQL, outside a
    transaction): the thread's lock, then one statement that writes the run, its messages and
    `start` event only if the thread is still the principal's and has no run in progress, as one
    transaction; then the dispatch and the wake-up. The statement states the checks itself
    because it is sent before the lock's answer is back; it runs after the lock is granted, so it
    sees every run committed before.

    Returns the thread as locked (before the run) and the run. Raises Thread.DoesNotExist
    (missing or someone else's) or Conflict (busy). With `assistant_id`, returns None if the thread
    has another assistant (the caller switches it on the slower path). `name` names a thread that
    has no name yet.
    """
    pk = Thread._meta.pk.to_python(thread_id)
    one, run = _start_statement(pk, turns, config, who)
    one.only_if(_startable(principal, pk, assistant_id))
    if name:
        one.name_thread_if_unnamed(name[:80])
    locked, events = together(
        (_locked_visible_thread, (principal.tenant, principal.user_id, pk)),
        (Statement(*one.sql(), result=lambda cursor: cursor.fetchone()), ()),
    )
    if not locked:
        raise Thread.DoesNotExist(f"thread {pk} not found")
    if one.finish(events, publish=False) is None:
        if assistant_id is not None and locked[0].assistant_id != assistant_id:
            return None
        raise Conflict(BUSY)
    enqueue_run(run.id)  # first: the worker's hop is the run's path; the followers' wake-up is not
    bus.publish_thread_events(pk, [run.start_event])
    return locked[0], run


# The scope rule and the busy rule, as the ORM writes them, for start_on_thread's statement.
_visible_thread_ids = PreparedRead(
    lambda tenant, owner, pk: Thread.objects.visible_to(Principal(tenant, owner)).filter(pk=pk).values_list("pk"), ("\x00tenant", "\x00owner", _ANY),
)
_visible_thread_ids_with_assistant = PreparedRead(
    lambda tenant, owner, pk, assistant_id: Thread.objects.visible_to(Principal(tenant, owner)).filter(pk=pk, assistant_id=assistant_id).values_list("pk"),
    ("\x00tenant", "\x00owner", _ANY, uuid.UUID(int=1)),
)
_active_run_ids = PreparedRead(lambda thread_id: Run.objects.filter(thread_id=thread_id, status__in=Run.ACTIVE).values_list("pk"), (_ANY,))


def _startable(principal: Principal, pk, assistant_id) -> statements.Sql:
    """SQL: the thread is the principal's (with `assistant_id`, if given) and has no active run."""
    if assistant_id is None:
        mine, mine_params = _visible_thread_ids.as_sql(principal.tenant, principal.user_id, pk)
    else:
        mine, mine_params = _visible_thread_ids_with_assistant.as_sql(principal.tenant, principal.user_id, pk, assistant_id)
    busy, busy_params = _active_run_ids.as_sql(pk)
    return statements.Sql(f"EXISTS ({mine}) AND NOT EXISTS ({busy})", [*mine_params, *busy_params])


def _start_on_locked_thread(locked: Thread, turns: list, config: dict | None, who: dict | None = None) -> Run:
    """The rest of do_start_run() on an existing thread, locked in the caller's transaction, as
    one statement (PostgreSQL): the run, its messages at the thread's next seqs, the `start`
    event; the wake-up and the dispatch follow the commit."""
    one, run = _start_statement(locked.pk, turns, config, who)
    run.thread = locked
    transaction.on_commit(lambda: enqueue_run(run.id))  # before the wake-up: the worker's hop is the run's path
    one.execute()
    return run


def _start_statement(thread_id, turns: list, config: dict | None, who: dict | None = None) -> tuple[statements.OneStatement, Run]:
    """A run on an existing thread as one statement, not yet sent: the run, its messages at the
    thread's next seqs and its `start` event (`run.start_event`). `who`: started_by()."""
    run = Run(thread_id=thread_id, config=config or {}, **(who or {}))
    one = statements.OneStatement().insert(run)
    human = None
    for offset, (role, content) in enumerate(turns):
        added = Message(thread_id=thread_id, run=run, role=role, content=content)
        one.insert(added, seq=statements.next_seq(Message, "thread", thread_id, offset=offset))
        human = added if role == Message.Role.HUMAN else human
    run.start_event = _start_event(thread_id, run.id, human)
    return one.events_of(thread_id, [run.start_event]), run


def do_ask(principal: Principal, thread: Thread | None, message: str, *, assistant: Assistant | None = None,
           new_thread_id=None) -> tuple[Thread, Run]:
    """A message on `thread`, or on a new thread (with `new_thread_id`, if given) created with its
    first run in one transaction (one commit, a WAL flush, instead of two). Returns the thread as
    it was before the run, and the run with its `start_event`."""
    if statements.available():
        if thread is None:
            return _start_on_new_thread(principal, message, assistant.id if assistant else default_assistant_id(principal), new_thread_id)
        locked, run = start_on_thread(Principal(thread.tenant, thread.owner), thread.pk, [(Message.Role.HUMAN, message)], None, name=message)
        thread.last_seq = locked.last_seq
        return thread, run
    with transaction.atomic():
        new_thread = thread is None
        if new_thread:
            thread = create_thread(principal, assistant=assistant, name=message[:80], thread_id=new_thread_id)
        run = do_start_run(thread, message, new_thread=new_thread)
    return thread, run


def _start_on_new_thread(principal: Principal, message: str, assistant_id, thread_id=None) -> tuple[Thread, Run]:
    """do_ask() on a new thread as one statement (PostgreSQL): the same rows and `start` event as
    create_thread() + do_start_run(new_thread=True), committed together, then the run is queued."""
    thread = Thread(assistant_id=assistant_id, name=message[:80], metadata={}, last_seq=1)  # holds its one event's seq
    if thread_id is not None:
        thread.id = thread_id
    thread.assign_owner(principal)
    run = Run(thread=thread, config={})
    human = Message(thread=thread, run=run, seq=1, role=Message.Role.HUMAN, content=message)
    start = _start_event(thread.id, run.id, human)
    # Dispatched first, so the worker's queue hop overlaps the write instead of following it: the
    # worker's claim waits a moment for a run it cannot see yet (engine.claim). If the broker
    # refuses the run, nothing has been written.
    enqueue_run(run.id)
    statements.OneStatement().insert(thread).insert(run).insert(human).events_of(thread.id, [start], first_seq=1).execute(publish=False)
    thread.last_seq = 0  # the thread as it was before the run, as do_ask returns it
    run.start_event = start
    return thread, run


def enqueue_run(run_id) -> None:
    from .tasks import execute_run

    execute_run.apply_async(args=[str(run_id)], queue=settings.AGENT_QUEUE)


def do_decide_confirmation(thread: Thread, confirmation_id, *, approve: bool, decided_by: str) -> Confirmation:
    with transaction.atomic():
        try:
            confirmation = Confirmation.objects.select_for_update().get(pk=confirmation_id, thread=thread)
        except (Confirmation.DoesNotExist, ValueError):
            raise Confirmation.DoesNotExist("confirmation not found on this thread") from None
        if confirmation.status != Confirmation.Status.PENDING:
            raise Conflict(f"confirmation already {confirmation.status}")
        confirmation.status = Confirmation.Status.APPROVED if approve else Confirmation.Status.DENIED
        confirmation.decided_by = decided_by[:300]
        confirmation.decided_at = timezone.now()
        confirmation.save(update_fields=["status", "decided_by", "decided_at"])
        append_event(
            thread.id, confirmation.run_id, "confirmation_decided",
            {"confirmation_id": str(confirmation.id), "status": confirmation.status},
        )
        transaction.on_commit(lambda: bus.signal_confirmation(confirmation.id))
    return confirmation


def do_cancel_runs(thread: Thread) -> list[Run]:
    """Ask active runs on the thread to stop; a run not yet picked up is cancelled at once."""
    cancelled = []
    with transaction.atomic():
        runs = list(Run.objects.select_for_update().filter(thread=thread, status__in=Run.ACTIVE))
        for run in runs:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])
            for confirmation in Confirmation.objects.select_for_update().filter(run=run, status=Confirmation.Status.PENDING):
                confirmation.status = Confirmation.Status.CANCELED
                confirmation.decided_at = timezone.now()
                confirmation.decided_by = "cancel"
                confirmation.save(update_fields=["status", "decided_at", "decided_by"])
                append_event(thread.id, run.id, "confirmation_decided", {"confirmation_id": str(confirmation.id), "status": confirmation.status})
                transaction.on_commit(lambda cid=confirmation.id: bus.signal_confirmation(cid))
            if run.status == Run.Status.QUEUED:
                finish_run(run, Run.Status.CANCELLED)
            cancelled.append(run)
    return cancelled


def finish_run(run: Run, status: str, *, error: str = "", error_code: str = "", **fields) -> None:
    """Close a run and write its terminal event in one transaction (call inside atomic).

    `fields` are more of the run's columns to write in the same statement (usage, timings, steps).
    `error_code` names a failure a client may act on (data_source_unavailable) in the error event.
    """
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status=status, error=error, finished_at=now, heartbeat_at=now, **fields)
    run.status, run.error, run.finished_at = status, error, now
    for type_, data in _terminal_events(run, status, error, error_code):
        append_event(run.thread_id, run.id, type_, data)


def _terminal_events(run: Run, status: str, error: str, error_code: str = "") -> list[tuple[str, dict]]:
    if status == Run.Status.FAILED:
        return [("error", {"message": error or "The run failed.", **({"code": error_code} if error_code else {})})]
    if status == Run.Status.CANCELLED:
        return [("run_cancelled", {"run_id": str(run.id)}), ("finish", {})]
    return [("finish", {})]


def do_finish_run(run: Run, status: str, *, error: str = "", error_code: str = "", answer: tuple[Message, RunEvent] | None = None,
                  **fields) -> None:
    """Close a run, with the answer that ends it (an unsaved message and its event), committed.

    On PostgreSQL one statement (message at the thread's next seq, the run's columns, the answer's
    and the terminal events); elsewhere the same rows in one transaction.
    """
    if not statements.available():
        with transaction.atomic(), written_together():
            if answer is not None:
                save_reply(*answer)
            finish_run(run, status, error=error, error_code=error_code, **fields)
        return
    now = timezone.now()
    one = statements.OneStatement()
    events = []
    if answer is not None:
        message, event = answer
        one.insert(message, seq=statements.next_seq(Message, "thread", message.thread_id))
        events.append(event)
    one.update(Run, run.pk, status=status, error=error, finished_at=now, heartbeat_at=now, **fields)
    events += [RunEvent(thread_id=run.thread_id, run_id=run.id, type=type_, data=data) for type_, data in _terminal_events(run, status, error, error_code)]
    one.events_of(run.thread_id, events).execute()
    run.status, run.error, run.finished_at = status, error, now


def requeue_run(run: Run, *, reason: str, now=None, **fields) -> None:
    """Put a run back in the queue for any worker and say so with `run_retry` (call inside atomic).

    `fields` records what the attempt used so far (usage, timings, steps). If the publish fails,
    the reaper re-sends queued runs that nobody picked up.
    """
    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, worker="", heartbeat_at=now or timezone.now(), **fields)
    append_event(run.thread_id, run.id, "run_retry", {"run_id": str(run.id), "attempt": run.attempts + 1, "reason": reason})
    transaction.on_commit(lambda: enqueue_run(run.id))


def reap_stale_runs(now=None) -> int:
    """Runs whose worker stopped heart-beating: retry them while attempts remain, else fail them."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.RUN_STALE_AFTER)
    reaped = 0
    candidates = Run.objects.filter(status__in=[Run.Status.RUNNING, Run.Status.REQUIRES_ACTION], heartbeat_at__lt=stale_before)
    for run_id in candidates.values_list("id", flat=True)[:100]:
        with transaction.atomic():
            run = Run.objects.select_for_update(skip_locked=True).filter(pk=run_id, heartbeat_at__lt=stale_before).first()
            if run is None or run.is_terminal:
                continue
            if run.attempts < settings.RUN_MAX_ATTEMPTS and not run.cancel_requested:
                requeue_run(run, reason="worker lost", now=now)
            else:
                finish_run(run, Run.Status.FAILED, error="The worker running this request stopped responding; the run was stopped.")
            reaped += 1
    reaped += _requeue_lost_runs(now, stale_before)
    if reaped:
        log.warning("reaped %d stale runs", reaped)
    return reaped


def _requeue_lost_runs(now, stale_before) -> int:
    """Queued runs nobody picked up (a broker restarted without persistence, say): enqueue again.

    A duplicate message is harmless (claiming is idempotent); `heartbeat_at` records the last
    enqueue so a run waiting for a busy worker is re-sent at most once per stale period.
    """
    lost = Run.objects.filter(status=Run.Status.QUEUED).filter(
        Q(heartbeat_at__lt=stale_before) | Q(heartbeat_at__isnull=True, created_at__lt=stale_before)
    )
    requeued = 0
    for run_id in lost.values_list("id", flat=True)[:100]:
        if Run.objects.filter(pk=run_id, status=Run.Status.QUEUED).update(heartbeat_at=now):
            enqueue_run(run_id)
            requeued += 1
    return requeued


def wait_for_run(run_id, *, timeout: float) -> Run:
    """Block until the run is terminal (for request/response dialects); returns it as it is at timeout."""
    import time

    from django.db import connection

    deadline = time.monotonic() + timeout
    interval = 0.02
    while True:
        run = Run.objects.get(pk=run_id)
        if run.is_terminal or time.monotonic() >= deadline:
            return run
        connection.close()
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def run_and_wait(thread: Thread, message: str | None, *, config: dict | None = None, timeout: float = 300.0,
                 acting: Principal | None = None) -> Run:
    """Start a run on the engine and wait for its end: the synchronous dialects' one call."""
    run = do_start_run(thread, message, config=config, acting=acting)
    return wait_for_run(run.id, timeout=timeout)
