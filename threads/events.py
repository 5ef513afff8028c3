"""Appending to a thread's event log: the one place events are written.

Each event gets the thread's next seq under a row lock, in the caller's transaction, so the event
commits together with the state it describes (a Message, a Run status, a Confirmation). After the
commit the event is published as a wake-up, carrying the event itself when it is small; a lost
publish only delays delivery to the next poll.
"""

from django.db import transaction

from . import bus
from .models import RunEvent, Thread

# Events of the PromptQL dialect (seed 000); the others are Querent's own (deltas, decisions, ...)
# and are sent to clients that ask for them (the websocket, the chat page, OpenGPTs streams).
PROMPTQL_EVENTS = frozenset({"start", "assistant_response_message", "tool_response_message", "user_confirmation", "finish", "error"})
TERMINAL_EVENTS = frozenset({"finish", "error"})


def append_event(thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("append_event must run inside the transaction that changes the state it describes")
    seq = _next_seq(thread_id)
    event = RunEvent.objects.create(thread_id=thread_id, run_id=run_id, seq=seq, type=type_, data=data, message_id=message_id)
    transaction.on_commit(lambda: bus.publish_thread_event(thread_id, seq, event))
    return event


def _next_seq(thread_id) -> int:
    """Bump and read the thread's counter in one statement; the row lock it takes orders writers."""
    connection = transaction.get_connection()
    table = connection.ops.quote_name(Thread._meta.db_table)
    key = Thread._meta.pk.get_db_prep_value(thread_id, connection)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq", [key])
        row = cursor.fetchone()
    if row is None:
        raise Thread.DoesNotExist(f"thread {thread_id} not found")
    return row[0]


def emit(thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
    """An event that describes no other state change: its own transaction."""
    with transaction.atomic():
        return append_event(thread_id, run_id, type_, data, message_id=message_id)
