"""The run store on PostgreSQL: a run's start, its events, its claim and its end each as one SQL
statement, and the history read without the ORM's query compiler.

Through the ORM each of these is a transaction of one statement per row (BEGIN, the rows, the
thread's counter, COMMIT); on a zero-latency run those round trips, and the Python that builds
them, were most of the engine's cost. PostgreSQL's data-modifying CTEs write the same rows in one
statement, which is atomic on its own and joins the caller's transaction when there is one. The
rules are RunStore's: events take the thread's next seqs from its counter (the UPDATE's row lock
orders writers), messages the thread's next message seqs, wake-ups go out after commit. The
claim's UPDATE returns the run joined with what the agent loop reads (through the ORM: an UPDATE,
then a SELECT compiled each time), and the reads build instances with Model.from_db: for these
small queries the ORM's compiler cost more Python than PostgreSQL spent answering them.
"""

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from assistants.models import Assistant
from executor.models import DataSource

from .. import bus
from ..models import Message, Run, RunEvent, Thread
from .orm import BUSY, THREAD_NAME_LENGTH, Conflict, RunStore, start_event, terminal_events

EVENT_FIELDS = ("thread", "run", "type", "payload", "message_id", "created_at")
EVENT_COLUMNS = "thread_id, run_id, type, payload, message_id, created_at, seq"
NEXT_MESSAGE_SEQ = "(SELECT COALESCE(MAX(seq), 0) + %s FROM threads_message WHERE thread_id = %s)"


def insert(obj, *, seq_sql: str | None = None, seq_params=()) -> tuple[str, list]:
    """The INSERT that Model.save() sends for the new row `obj`, as SQL and parameters; with
    `seq_sql`, the `seq` column is that SQL expression instead of the object's value."""
    fields = [field for field in obj._meta.concrete_fields if not field.generated]
    columns, values, params = [], [], []
    for field in fields:
        columns.append(field.column)
        if field.attname == "seq" and seq_sql is not None:
            values.append(seq_sql)
            params.extend(seq_params)
        else:
            values.append("%s")
            params.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
    return f"INSERT INTO {obj._meta.db_table} ({', '.join(columns)}) VALUES ({', '.join(values)})", params


def event_inserts(events: list[RunEvent], last_seq_sql: str = "last_seq", source: str = " FROM bumped") -> tuple[list[str], list]:
    """One CTE per event: its row at the seq `last_seq_sql` - (how many events follow it)."""
    ctes, params = [], []
    for index, event in enumerate(events):
        behind = len(events) - 1 - index
        ctes.append(f"event{index} AS (INSERT INTO threads_runevent ({EVENT_COLUMNS}) SELECT %s, %s, %s, %s, %s, %s, {last_seq_sql} - {behind}{source})")
        params += [field.get_db_prep_save(getattr(event, field.attname), connection) for field in map(RunEvent._meta.get_field, EVENT_FIELDS)]
    return ctes, params


def bump(thread_id, count: int, *, name: str | None = None, touched=None) -> tuple[str, list]:
    """The CTE that reserves `count` seqs on the thread (`bumped.last_seq` is the last), names it
    if it has no name yet and, when a run starts (`touched`: the time), moves its updated_at (one
    UPDATE: a statement may change a row only once)."""
    naming, params = "", [count]
    if name:
        naming = ", name = CASE WHEN name = '' THEN %s ELSE name END"
        params.append(name[:THREAD_NAME_LENGTH])
    if touched is not None:
        naming += ", updated_at = %s"
        params.append(touched)
    return f"bumped AS (UPDATE threads_thread SET last_seq = last_seq + %s{naming} WHERE id = %s RETURNING last_seq)", [*params, thread_id]


def run_statement(ctes: list[str], params: list):
    """Send `WITH <ctes> SELECT last_seq FROM bumped`; the thread's last seq, None if it is missing."""
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(ctes)} SELECT last_seq FROM bumped", params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def loaded_fields(model, skip: tuple = ()) -> list:
    return [field for field in model._meta.concrete_fields if field.attname not in skip]


def from_row(model, fields: list, values):
    """An instance built as the ORM builds one (Model.from_db, each field's from_db_value); None
    for the NULLs of an outer join. Fields left out are deferred: read on first access."""
    if values[fields.index(model._meta.pk)] is None:
        return None
    values = [field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value for field, value in zip(fields, values)]
    return model.from_db(connection.alias, [field.attname for field in fields], values)


# What runs_to_execute() loads, as one row: the run just taken, its thread, the thread's assistant
# and that assistant's data source without its stored schema (the prompt reads executor.schema's
# memory). (model, its alias in CLAIM, its fields in the row)
TO_EXECUTE = [(model, alias, loaded_fields(model, skip)) for model, alias, skip in
              ((Run, "taken", ()), (Thread, "thread", ()), (Assistant, "assistant", ()), (DataSource, "source", ("schema_cache",)))]
CLAIM = f"""WITH taken AS (
    UPDATE threads_run SET status = %s, attempts = attempts + 1, worker = %s, started_at = COALESCE(started_at, %s), heartbeat_at = %s
    WHERE id = %s AND status = %s AND NOT cancel_requested AND attempts < %s
    RETURNING *
)
SELECT {", ".join(f"{alias}.{connection.ops.quote_name(field.column)}" for _, alias, fields in TO_EXECUTE for field in fields)}
FROM taken
JOIN threads_thread thread ON thread.id = taken.thread_id
LEFT JOIN assistants_assistant assistant ON assistant.id = thread.assistant_id
LEFT JOIN executor_datasource source ON source.id = assistant.data_source_id"""


# What the model's prompt reads of a thread's messages (threads.prompt.history_messages); the rest is deferred.
HISTORY_FIELDS = [Message._meta.get_field(name) for name in ("id", "seq", "role", "content", "tool_calls", "tool_call_id")]
HISTORY = f"SELECT {', '.join(field.column for field in HISTORY_FIELDS)} FROM threads_message WHERE thread_id = %s AND seq > %s ORDER BY seq"


def _number_events(thread_id, events: list[RunEvent], last_seq) -> None:
    if last_seq is None:
        raise Thread.DoesNotExist(f"thread {thread_id} not found")
    for seq, event in enumerate(events, start=last_seq - len(events) + 1):
        event.seq = seq
        event._state.adding = False


class PostgresRunStore(RunStore):
    def append_events(self, thread_id, events: list[RunEvent]) -> list[RunEvent]:
        if not connection.in_atomic_block:
            raise RuntimeError("events are written inside the transaction that changes the state they describe")
        return self._write_events(thread_id, events)

    def emit(self, thread_id, run_id, type_: str, data: dict, *, message_id=None) -> RunEvent:
        # One statement, atomic on its own: no transaction around it.
        event = RunEvent(thread_id=thread_id, run_id=run_id, type=type_, data=data, message_id=message_id)
        return self._write_events(thread_id, [event])[0]

    def _write_events(self, thread_id, events: list[RunEvent], before: tuple[list[str], list] | None = None, name=None,
                      touched=None) -> list[RunEvent]:
        """The statement: `before`'s CTEs (other rows), the thread's counter, the events."""
        other_rows, other_params = before or ([], [])
        counter, counter_params = bump(thread_id, len(events), name=name, touched=touched)
        rows, row_params = event_inserts(events)
        _number_events(thread_id, events, run_statement([*other_rows, counter, *rows], [*other_params, *counter_params, *row_params]))
        self._publish_after_commit(thread_id, events)
        return events

    def _publish_after_commit(self, thread_id, events) -> None:
        transaction.on_commit(lambda: bus.publish_thread_events(str(thread_id), events))

    def start_run(self, thread: Thread, turns, *, config=None, who=None, name=None) -> Run:
        run = Run(thread=thread, config=config or {}, **(who or {}))
        messages = [Message(thread_id=thread.pk, run=run, role=role, content=content) for role, content in turns]
        run.start_event = start_event(run, messages)
        if thread._state.adding:
            self._start_on_new_thread(thread, run, messages, name)
        else:
            with transaction.atomic():
                # The lock first, in its own statement: the next one then sees every run committed
                # before it was granted (a statement's snapshot is taken when it starts).
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1 FROM threads_thread WHERE id = %s FOR UPDATE", [thread.pk])
                    if cursor.fetchone() is None:
                        raise Thread.DoesNotExist(f"thread {thread.pk} not found")
                self.refuse_if_busy(thread.pk)
                transaction.on_commit(lambda: self.enqueue(run.id))  # before the wake-up: the worker's hop is the run's path
                self._write_events(thread.pk, [run.start_event], before=self._run_and_messages(run, messages), name=name,
                                   touched=timezone.now())  # a continued thread moves up the lists
        run._state.adding = False
        return run

    def refuse_if_busy(self, thread_id, detail: str = BUSY) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM threads_run WHERE thread_id = %s AND status = ANY(%s) LIMIT 1", [thread_id, list(Run.ACTIVE)])
            if cursor.fetchone() is not None:
                raise Conflict(detail)

    def _start_on_new_thread(self, thread: Thread, run: Run, messages: list[Message], name) -> None:
        """The thread, its run, messages 1..n and `start` (seq 1) in one statement. Sibling CTEs
        cannot see each other's rows, so the new thread's row is written holding its last seq."""
        if name and not thread.name:
            thread.name = name[:THREAD_NAME_LENGTH]
        thread.last_seq = 1
        for seq, message in enumerate(messages, start=1):
            message.seq = seq
        parts = [insert(thread), insert(run), *(insert(message) for message in messages)]
        ctes = [f"row{index} AS ({sql})" for index, (sql, _) in enumerate(parts)]
        rows, row_params = event_inserts([run.start_event], "1", source="")
        statement = f"WITH {', '.join(ctes + rows)} SELECT 1"
        with connection.cursor() as cursor:
            cursor.execute(statement, [param for _, params in parts for param in params] + row_params)
        thread._state.adding = False
        thread.last_seq = 0  # as the ORM store leaves it: the counter moved in the database only
        _number_events(thread.pk, [run.start_event], 1)
        transaction.on_commit(lambda: self.enqueue(run.id))
        self._publish_after_commit(thread.pk, [run.start_event])

    def _run_and_messages(self, run: Run, messages: list[Message]) -> tuple[list[str], list]:
        parts = [insert(run)] + [insert(message, seq_sql=NEXT_MESSAGE_SEQ, seq_params=[1 + offset, message.thread_id])
                                 for offset, message in enumerate(messages)]
        return [f"row{index} AS ({sql})" for index, (sql, _) in enumerate(parts)], [param for _, params in parts for param in params]

    def _take_queued(self, run_id, worker: str, now) -> Run | None:
        """The UPDATE that takes a queued run returns it joined with what the agent loop needs."""
        params = [Run.Status.RUNNING, worker[:200], now, now, Run._meta.pk.get_db_prep_value(run_id, connection), Run.Status.QUEUED,
                  settings.RUN_MAX_ATTEMPTS]
        with connection.cursor() as cursor:
            cursor.execute(CLAIM, params)
            row = cursor.fetchone()
        if row is None:
            return None
        instances, start = [], 0
        for model, _, fields in TO_EXECUTE:
            instances.append(from_row(model, fields, row[start:start + len(fields)]))
            start += len(fields)
        run, thread, assistant, source = instances
        if assistant is not None:
            assistant.data_source = source
        thread.assistant = assistant
        run.thread = thread
        return run

    def history(self, thread_id, after_seq: int | None = None) -> list[Message]:
        with connection.cursor() as cursor:
            cursor.execute(HISTORY, [Thread._meta.pk.get_db_prep_value(thread_id, connection), after_seq or 0])
            return [from_row(Message, HISTORY_FIELDS, row) for row in cursor.fetchall()]

    def finish_run(self, run: Run, status: str, *, error: str = "", error_code: str = "", answer=None, **fields) -> None:
        now = timezone.now()
        events = terminal_events(run, status, error, error_code)
        ctes, params = [], []
        if answer is not None:
            message, event = answer
            sql, message_params = insert(message, seq_sql=NEXT_MESSAGE_SEQ, seq_params=[1, message.thread_id])
            ctes.append(f"answer AS ({sql})")
            params += message_params
            events.insert(0, event)
        changes = {"status": status, "error": error, "finished_at": now, "heartbeat_at": now, **fields}
        assignments = ", ".join(f"{Run._meta.get_field(name).column} = %s" for name in changes)
        ctes.append(f"ended AS (UPDATE threads_run SET {assignments} WHERE id = %s)")
        params += [Run._meta.get_field(name).get_db_prep_save(value, connection) for name, value in changes.items()] + [run.pk]
        self._write_events(run.thread_id, events, before=(ctes, params))
        run.status, run.error, run.finished_at = status, error, now
