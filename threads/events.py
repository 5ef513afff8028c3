"""Appending to a thread's event log: the one place events are written.

Each event gets the thread's next seq under a row lock, in the caller's transaction, so the event
commits together with the state it describes (a Message, a Run status, a Confirmation). After the
commit the events of the transaction are published as one wake-up per thread, carrying the events
themselves when they are small; a lost publish only delays delivery to the next poll.
"""

from contextlib import contextmanager

from django.db import transaction

from . import bus
from .models import RunEvent, Thread

# Events of the PromptQL dialect (seed 000); the others are Querent's own (deltas, decisions, ...)
# and are sent to clients that ask for them (the websocket, the chat page, OpenGPTs streams).
PROMPTQL_EVENTS = frozenset({"start", "assistant_response_message", "tool_response_message", "user_confirmation", "finish", "error"})
TERMINAL_EVENTS = frozenset({"finish", "error"})


def append_event(thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
    """Write an event in the caller's transaction. Inside `written_together()` the row (and its
    seq) is written at the end of that block instead."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("append_event must run inside the transaction that changes the state it describes")
    event = RunEvent(thread_id=thread_id, run_id=run_id, type=type_, data=data, message_id=message_id)
    batch = getattr(connection, "querent_event_batch", None)
    if batch is not None:
        batch.append(event)
        return event
    event.seq = _next_seq(thread_id)
    event.save(force_insert=True)
    publish_after_commit(event)
    return event


def append_built(event: RunEvent) -> RunEvent:
    """append_event() for an event built beforehand, not yet written (a run's `start`, a reply)."""
    return append_event(event.thread_id, event.run_id, event.type, event.data, message_id=event.message_id)


@contextmanager
def written_together():
    """Events appended in this block are written at its end: one counter bump and one insert per
    thread instead of one each (a run's answer and its `finish`). Their seqs are set then, in the
    order they were appended. Call inside a transaction; nothing is written if the block raises."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("written_together must run inside a transaction")
    if getattr(connection, "querent_event_batch", None) is not None:
        yield  # already inside one: the outer block writes these too
        return
    batch = connection.querent_event_batch = []
    try:
        yield
    finally:
        connection.querent_event_batch = None
    by_thread: dict[str, list[RunEvent]] = {}
    for event in batch:
        by_thread.setdefault(str(event.thread_id), []).append(event)
    for thread_id, events in by_thread.items():
        last = _next_seq(thread_id, len(events))
        for offset, event in enumerate(events):
            event.seq = last - len(events) + 1 + offset
    RunEvent.objects.bulk_create(batch)
    for event in batch:
        publish_after_commit(event)


class _PendingWakeUps:
    """Events written at one savepoint level of a transaction, published together after its commit
    (a run's answer and its `finish` go out in one message, not two)."""

    def __init__(self, savepoints: tuple):
        self.savepoints = savepoints
        self.events: dict = {}

        def publish() -> None:
            for thread_id, events in self.events.items():
                bus.publish_thread_events(thread_id, events)

        self.publish = publish

    def still_pending(self, connection) -> bool:
        # Django drops the callback when the (savepoint) transaction rolls back and runs it on
        # commit; either way a new event needs a new batch.
        return any(callback is self.publish for _, callback, *_ in connection.run_on_commit)


def publish_after_commit(event: RunEvent) -> None:
    connection = transaction.get_connection()
    savepoints = tuple(connection.savepoint_ids)
    pending = getattr(connection, "querent_pending_wakeups", None)
    if pending is None or pending.savepoints != savepoints or not pending.still_pending(connection):
        pending = connection.querent_pending_wakeups = _PendingWakeUps(savepoints)
        transaction.on_commit(pending.publish)
    pending.events.setdefault(str(event.thread_id), []).append(event)


def _next_seq(thread_id, count: int = 1) -> int:
    """Bump and read the thread's counter in one statement; the row lock it takes orders writers.
    With `count`, reserves that many seqs and returns the last."""
    connection = transaction.get_connection()
    table = connection.ops.quote_name(Thread._meta.db_table)
    key = Thread._meta.pk.get_db_prep_value(thread_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq", [count, key])
        row = cursor.fetchone()
    if row is None:
        raise Thread.DoesNotExist(f"thread {thread_id} not found")
    return row[0]


def emit(thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
    """An event that describes no other state change: its own transaction.

    On PostgreSQL outside a transaction that is one statement (bump the counter, insert the row)
    instead of four round trips: deltas are emitted while the model streams, so they are the
    engine's most frequent write.
    """
    from . import statements

    if not statements.available(transaction.get_connection()):
        with transaction.atomic():
            return append_event(thread_id, run_id, type_, data, message_id=message_id)
    event = RunEvent(thread_id=thread_id, run_id=run_id, type=type_, data=data, message_id=message_id)
    statements.OneStatement().events_of(thread_id, [event]).execute()
    return event
