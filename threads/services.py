"""The engine's actions on threads, runs and confirmations, over the run store (threads.store)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from assistants.models import Assistant
from config.identity import Principal

from .models import Confirmation, Message, Run, Thread
from .store import BUSY, Conflict, store

log = logging.getLogger(__name__)

__all__ = ["BUSY", "Conflict"]


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


def new_thread(principal: Principal, *, assistant: Assistant, name: str = "", metadata: dict | None = None, thread_id=None) -> Thread:
    """The principal's thread on `assistant`, not yet written (its name cut to the column)."""
    thread = Thread(assistant=assistant, name=name[:300], metadata=metadata or {})
    if thread_id is not None:
        thread.id = thread_id
    thread.assign_owner(principal)
    return thread


def create_thread(principal: Principal, *, assistant: Assistant | None = None, name: str = "", metadata: dict | None = None) -> Thread:
    thread = new_thread(principal, assistant=assistant or default_assistant(principal), name=name, metadata=metadata)
    thread.save(force_insert=True)
    return thread


def add_message(thread: Thread, *, role: str, content: str, **fields) -> Message:
    with transaction.atomic():
        [message] = store.add_messages([Message(thread_id=thread.pk, role=role, content=content, **fields)])
    return message


def started_by(thread: Thread, acting: Principal | None, operator: bool = False) -> dict:
    """The run's `started_by` fields: empty when the thread's owner asks (the usual case)."""
    who = {}
    if acting is not None and acting.user_id != thread.owner:
        who["started_by"] = acting.user_id[:200]
    if operator:
        who["started_by_operator"] = True
    return who


def do_start_run(thread: Thread, message: str | None, *, config: dict | None = None, input_messages=None,
                 acting: Principal | None = None, operator: bool = False) -> Run:
    """Record the user's message(s) and a queued run, emit `start`, then hand the run to a worker.

    `thread` may be new (not saved yet): it is written with the run. `input_messages`
    ([(role, content)]) adds several messages at once (OpenGPTs input). `acting`: who asks, when
    that may be someone other than the thread's owner (a tenant-mate in a BI session); the run
    uses data sources as they may. `operator`: a staff member's test run. Raises Conflict when a
    run is already in progress on the thread.
    """
    turns = list(input_messages or []) + ([(Message.Role.HUMAN, message)] if message is not None else [])
    return store.start_run(thread, turns, config=config, who=started_by(thread, acting, operator), name=message)


def do_ask(principal: Principal, thread: Thread | None, message: str, *, assistant: Assistant | None = None,
           new_thread_id=None) -> tuple[Thread, Run]:
    """A question on `thread`, or on a new thread (with id `new_thread_id`, if given) written with
    its first run in one transaction. Returns the thread and the run with its `start_event`."""
    if thread is None:
        thread = new_thread(principal, assistant=assistant or default_assistant(principal), thread_id=new_thread_id)
    return thread, do_start_run(thread, message)


def do_decide_confirmation(thread: Thread, confirmation_id, *, approve: bool, decided_by: str) -> Confirmation:
    status = Confirmation.Status.APPROVED if approve else Confirmation.Status.DENIED
    try:
        with transaction.atomic():
            on_thread = Confirmation.objects.filter(pk=confirmation_id, thread=thread)
            closed = store.close_confirmations(on_thread, status, decided_by)
            if not closed:
                raise Conflict(f"confirmation already {on_thread.get().status}")
    except (Confirmation.DoesNotExist, ValueError, ValidationError):
        raise Confirmation.DoesNotExist("confirmation not found on this thread") from None
    return closed[0]


def do_cancel_runs(thread: Thread) -> list[Run]:
    """Ask active runs on the thread to stop; a run not yet picked up is cancelled at once."""
    with transaction.atomic():
        runs = list(Run.objects.select_for_update().filter(thread=thread, status__in=Run.ACTIVE))
        Run.objects.filter(pk__in=[run.pk for run in runs]).update(cancel_requested=True)
        store.close_confirmations(Confirmation.objects.filter(run__in=runs), Confirmation.Status.CANCELLED, "cancel")
        for run in runs:
            run.cancel_requested = True
            if run.status == Run.Status.QUEUED:
                store.finish_run(run, Run.Status.CANCELLED)
    return runs


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
                store.requeue_run(run, reason="worker lost", now=now)
            else:
                store.finish_run(run, Run.Status.FAILED, error="The worker running this request stopped responding; the run was stopped.")
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
            store.enqueue(run_id)
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
        if not connection.in_atomic_block:
            connection.close()  # no connection held while sleeping (inside a transaction it must stay)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


# --- locks and pending changes, for the request/response dialects (BI, Julep, Dataherald) -----


def lock_thread(thread_id) -> Thread:
    """The thread's row lock for the caller's transaction (Thread.DoesNotExist when it is gone).
    Everything that changes a thread's conversation takes it, after the lock of the object above
    the thread (a session), never before: one order, so two requests never wait on each other."""
    return Thread.objects.select_for_update().get(pk=thread_id)


def refuse_if_running(thread_id, detail: str = BUSY) -> None:
    """Conflict while a run is in progress on the thread (the store's rule); call it holding the thread's lock."""
    store.refuse_if_busy(thread_id, detail)


def pending_confirmation(run_id) -> Confirmation | None:
    return Confirmation.objects.filter(run_id=run_id, status=Confirmation.Status.PENDING).order_by("created_at").first()


def wait_for_outcome(run_id, *, timeout: float) -> tuple[Run, Confirmation | None]:
    """Block until the run ends or stops to wait for a person: (run, None) when it is terminal (or
    at timeout), (run, the pending confirmation) when a change waits for approval. Dialects with no
    confirmation protocol answer at once with that change instead of holding the request."""
    import time

    from django.db import connection

    deadline = time.monotonic() + timeout
    interval = 0.02
    while True:
        run = Run.objects.get(pk=run_id)
        if run.is_terminal:
            return run, None
        if run.status == Run.Status.REQUIRES_ACTION:
            waiting = pending_confirmation(run_id)
            if waiting is not None:
                return run, waiting
        if time.monotonic() >= deadline:
            return run, None
        if not connection.in_atomic_block:
            connection.close()  # no connection held while sleeping (inside a transaction it must stay)
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def withdraw_pending_changes(thread: Thread, *, timeout: float = 30.0) -> list[Confirmation]:
    """A new message while a change waits for approval withdraws it: the confirmation is closed as
    CANCELLED (nothing is written), the run that asked stops, and this returns once it has, so the
    new message can start. Runs that are computing (not waiting for a person) are left alone."""
    waiting = list(Confirmation.objects.filter(thread=thread, status=Confirmation.Status.PENDING, run__status=Run.Status.REQUIRES_ACTION))
    if not waiting:
        return []
    runs = do_cancel_runs(thread)
    for run in runs:
        wait_for_run(run.id, timeout=timeout)
    return [c for c in waiting if c.run_id in {run.id for run in runs}]
