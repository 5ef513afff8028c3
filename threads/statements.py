"""Several writes sent to PostgreSQL as one statement.

A run's start (thread, run, message, `start` event) and its end (answer, run status, the answer's
and `finish` events) are each one transaction of several rows. Sent row by row that is BEGIN, a
statement per row, the thread's counter bump and COMMIT: seven round trips, each costing more
Python than PostgreSQL time. Data-modifying CTEs make them one statement, atomic on its own in
autocommit (no BEGIN or COMMIT), writing the same rows under the same per-thread seq rule as
events.append_event. PostgreSQL only: as a transaction of its own outside one (`available`), or
inside the caller's (a run on an existing thread, after its lock), announcing its events after
that commit. Elsewhere callers take the ORM path, which writes the same rows.
"""

import functools

from django.db import connection as default_connection

from . import bus
from .events import publish_after_commit
from .models import RunEvent, Thread

EVENT_COLUMNS = ("thread", "run", "type", "payload", "message_id", "created_at")


def available(connection=default_connection) -> bool:
    """A OneStatement may stand as its own transaction here."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


class Sql:
    """A column value the database computes inside the statement (see next_seq)."""

    def __init__(self, sql: str, params=()):
        self.sql, self.params = sql, list(params)


def next_seq(model, parent_field: str, parent_id, *, offset: int = 0, connection=default_connection) -> Sql:
    """The next `seq` among `model` rows of one parent (a thread's messages): MAX + 1 (+ `offset`
    for the second and later rows of one statement, which all read the same MAX)."""
    quote = connection.ops.quote_name
    field = model._meta.get_field(parent_field)
    return Sql(
        f"(SELECT COALESCE(MAX(seq), 0) + 1 + %s FROM {quote(model._meta.db_table)} WHERE {quote(field.column)} = %s)",
        [offset, field.get_db_prep_value(parent_id, connection)],
    )


@functools.cache
def _insert_fields(model) -> list:
    meta = model._meta
    return [field for field in meta.local_concrete_fields if field is not meta.auto_field and not field.generated]


class OneStatement:
    """Collect inserts, updates and a thread's events; `execute()` sends them as one statement
    and publishes the events' wake-up (the statement committed as it ended)."""

    def __init__(self, connection=default_connection):
        self.connection = connection
        self.parts: list[tuple[str, str | None, list]] = []  # (statement, its VALUES row or None, parameters)
        self.thread_id = None
        self.events: list[RunEvent] = []
        self.first_seq = None
        self.thread_changes: list[tuple[str, list]] = []
        self.condition: Sql | None = None

    def insert(self, obj, **computed: "Sql") -> "OneStatement":
        """The INSERT Django would send for `obj` (a new row with its primary key set): each
        column's value as Model.save() prepares it, or a `computed` column's SQL expression.
        Built from the model's fields, not by the ORM's compiler, which cost more than the write."""
        connection = self.connection
        quote = connection.ops.quote_name
        fields = _insert_fields(type(obj))
        values, params = [], []
        for field in fields:
            expression = computed.get(field.attname)
            if expression is not None:
                values.append(expression.sql)
                params.extend(expression.params)
            else:
                values.append("%s")
                params.append(field.get_db_prep_save(field.pre_save(obj, True), connection))
        columns = ", ".join(quote(field.column) for field in fields)
        self.parts.append((f"INSERT INTO {quote(obj._meta.db_table)} ({columns}) ", f"{', '.join(values)}", params))
        return self

    def update(self, model, pk, **values) -> "OneStatement":
        """Model.objects.filter(pk=pk).update(**values) as a part of the statement (plain values)."""
        connection = self.connection
        quote = connection.ops.quote_name
        meta = model._meta
        assignments, params = [], []
        for name, value in values.items():
            field = meta.get_field(name)
            assignments.append(f"{quote(field.column)} = %s")
            params.append(field.get_db_prep_save(value, connection))
        params.append(meta.pk.get_db_prep_value(pk, connection))
        self.parts.append((f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} WHERE {quote(meta.pk.column)} = %s", None, params))
        return self

    def only_if(self, condition: Sql) -> "OneStatement":
        """Write nothing unless `condition` (SQL) holds when the statement runs: then execute()
        returns None. Lets a caller send the statement after a lock in the same round trip
        (config.prepared.together) and still check what the lock found."""
        self.condition = condition
        return self

    def name_thread_if_unnamed(self, name: str) -> "OneStatement":
        """With the thread's counter bump (a statement may change a row only once): a thread with
        no name yet takes `name`."""
        self.thread_changes.append(("name = CASE WHEN name = '' THEN %s ELSE name END", [name[:300]]))
        return self

    def events_of(self, thread_id, events: list[RunEvent], *, first_seq: int | None = None) -> "OneStatement":
        """Append `events` to the thread's log. `first_seq` is for a thread inserted by this very
        statement: its row already holds the last seq (sibling CTEs cannot see each other's rows,
        so its counter cannot be bumped here)."""
        self.thread_id, self.events, self.first_seq = thread_id, list(events), first_seq
        return self

    def execute(self, *, publish: bool = True) -> list[RunEvent] | None:
        """Send the statement; then announce the events (after the caller's commit when inside a
        transaction) unless `publish` is False (a thread made by this statement: nobody can be
        following it yet, and its creator has the events). None if only_if() did not hold."""
        with self.connection.cursor() as cursor:
            cursor.execute(*self.sql())
            row = cursor.fetchone()
        return self.finish(row, publish=publish)

    def sql(self) -> tuple[str, list]:
        """The statement and its parameters (to send with others: config.prepared.Statement)."""
        quote = self.connection.ops.quote_name
        ctes, params = [], []
        if self.condition is not None:
            # Every write reads its values from `go`, which has a row only if the condition holds.
            ctes.append(f"go AS (SELECT 1 AS yes WHERE {self.condition.sql})")
            params.extend(self.condition.params)
        guarded = self.condition is not None
        for index, (statement, row, part_params) in enumerate(self.parts):
            if row is not None:
                statement += f"SELECT {row} FROM go" if guarded else f"VALUES ({row})"
            elif guarded:
                statement += " AND EXISTS (SELECT FROM go)"
            ctes.append(f"w{index} AS ({statement})")
            params.extend(part_params)
        count = len(self.events)
        if count and self.first_seq is None:
            sets = ", ".join(["last_seq = last_seq + %s"] + [change for change, _ in self.thread_changes])
            guard = " AND EXISTS (SELECT FROM go)" if guarded else ""
            ctes.append(f"bumped AS (UPDATE {quote(Thread._meta.db_table)} SET {sets} WHERE id = %s{guard} RETURNING last_seq)")
            params.append(count)
            for _, change_params in self.thread_changes:
                params.extend(change_params)
            params.append(self._thread_key())
        fields = [RunEvent._meta.get_field(name) for name in EVENT_COLUMNS]
        columns = ", ".join(quote(field.column) for field in fields) + ", seq"
        placeholders = ", ".join(["%s"] * len(fields))
        for index, event in enumerate(self.events):
            values = [field.get_db_prep_save(getattr(event, field.attname), self.connection) for field in fields]
            if self.first_seq is None:
                source_rows = f"SELECT {placeholders}, last_seq - %s FROM bumped"
                values.append(count - 1 - index)
            else:
                source_rows = f"SELECT {placeholders}, %s FROM go" if guarded else f"VALUES ({placeholders}, %s)"
                values.append(self.first_seq + index)
            ctes.append(f"e{index} AS (INSERT INTO {quote(RunEvent._meta.db_table)} ({columns}) {source_rows})")
            params.extend(values)
        if count and self.first_seq is None:
            final = "SELECT last_seq FROM bumped"
        else:
            final = "SELECT %s FROM go" if guarded else "SELECT %s"
            params.append((self.first_seq or 1) + count - 1)
        return f"WITH {', '.join(ctes)} {final}", params

    def finish(self, row, *, publish: bool = True) -> list[RunEvent] | None:
        """After the statement ran and returned `row`: the events' seqs, then their wake-up."""
        if row is None:
            if self.condition is not None:
                return None
            raise Thread.DoesNotExist(f"thread {self.thread_id} not found")
        first = row[0] - len(self.events) + 1
        for index, event in enumerate(self.events):
            event.seq = first + index
            event._state.adding = False
        if self.events and publish:
            if self.connection.in_atomic_block:
                for event in self.events:  # with the transaction's other events, once it commits
                    publish_after_commit(event)
            else:
                bus.publish_thread_events(self.thread_id, self.events)
        return self.events

    def _thread_key(self):
        return Thread._meta.pk.get_db_prep_value(self.thread_id, self.connection)
