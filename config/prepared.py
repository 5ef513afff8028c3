"""ORM reads compiled once per thread, for the few that run on every request or run.

Compiling a queryset to SQL is most of what a simple ORM read costs in Python: a worker's claim
(a run with its thread, assistant and data source, some sixty columns) spent more time compiling
than PostgreSQL spent answering. A PreparedRead compiles its queryset the first time each thread
uses it, with placeholder values, and afterwards only binds new values and builds the instances
the way QuerySet iteration does (select_related included).
"""

import threading
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models.query import get_related_populators
from django.db.models.sql import UpdateQuery


@dataclass
class _Compiled:
    connection: object
    sql: str
    params: tuple
    slots: list  # (index in params, index in placeholders)
    compiler: object = None  # a read's, to convert and build its rows
    materialize: object = None
    converters: dict | None = None  # the compiler's, found once (None: let it convert each time)


class _Prepared:
    """A query compiled the first time each thread runs it (PostgreSQL); elsewhere the ORM's."""

    def __init__(self, build, placeholders: tuple, using: str = "default"):
        self.build = build
        self.placeholders = placeholders
        self.using = using
        self._local = threading.local()

    def _compiled(self) -> _Compiled | None:
        """This thread's compiled query; None where each call goes through the ORM (other
        databases want values prepared per field: SQLite stores UUIDs as text)."""
        if connections[self.using].vendor != "postgresql":
            return None
        compiled = getattr(self._local, "compiled", None)
        if compiled is None:
            compiled = self._local.compiled = self._compile()
        return compiled

    def _compile(self) -> _Compiled:
        raise NotImplementedError

    def _through_orm(self, values: tuple):
        """The result, where the query is not compiled here (other databases)."""
        raise NotImplementedError

    def _result(self, compiled: _Compiled, cursor):
        """The result, from the cursor that ran the compiled query."""
        raise NotImplementedError

    def _run(self, values: tuple):
        compiled = self._compiled()
        if compiled is None:
            return self._through_orm(values)
        with compiled.connection.cursor() as cursor:
            cursor.execute(compiled.sql, _bound(compiled, values))
            return self._result(compiled, cursor)


def _bound(compiled: _Compiled, values: tuple) -> list:
    """The compiled query's parameters with the caller's values in the placeholders' slots."""
    bound = list(compiled.params)
    for index, which in compiled.slots:
        bound[index] = values[which]
    return bound


def together(*calls: tuple[_Prepared, tuple]) -> list:
    """`together((read, (pk,)), (update, (pk, now)))`: each query's result, as its own call would
    give it, for one round trip to the database instead of one each (PostgreSQL's pipeline mode).

    The queries run in order, as one transaction: a later one sees what an earlier one wrote, and
    if one fails, none has an effect. Elsewhere, inside a transaction, or for queries on different
    databases they run one after another.
    """
    compiled = [prepared._compiled() for prepared, _ in calls]
    connection = compiled[0].connection if compiled[0] is not None else None
    if connection is None or connection.in_atomic_block or any(c is None or c.connection is not connection for c in compiled):
        # Inside a transaction, Django's cursors keep its error bookkeeping: one query at a time.
        return [prepared._run(values) for prepared, values in calls]
    connection.ensure_connection()
    raw = connection.connection
    cursors = []
    with connection.wrap_database_errors:
        try:
            with raw.pipeline():
                for (prepared, values), query in zip(calls, compiled):
                    cursor = raw.cursor()
                    cursors.append(cursor)
                    cursor.execute(query.sql, _bound(query, values))
            return [prepared._result(query, cursor) for (prepared, _), query, cursor in zip(calls, compiled, cursors)]
        finally:
            for cursor in cursors:
                cursor.close()


class PreparedRead(_Prepared):
    """`PreparedRead(lambda pk: Run.objects.select_related("thread").filter(pk=pk), placeholders)`;
    then `read(value, ...)` returns the instances that `build(value, ...)` would give (or, for a
    values_list() queryset, its rows as tuples).

    `placeholders` are values of the right types that no real call uses; every parameter the
    compiled SQL takes from one of them is replaced by the caller's value, as is (PostgreSQL, where
    psycopg adapts UUIDs, strings and numbers itself; elsewhere each read goes through the ORM).
    """

    def read(self, *values) -> list:
        return self._run(values)

    def as_sql(self, *values) -> tuple[str, list]:
        """The query's SQL and parameters for these values, to put inside a statement of one's
        own (`EXISTS (...)`): the ORM's rule, not a copy of it."""
        compiled = self._compiled()
        if compiled is None:
            return self.build(*values).query.sql_with_params()
        return compiled.sql, _bound(compiled, values)

    def _through_orm(self, values: tuple) -> list:
        return list(self.build(*values))

    def _result(self, compiled: _Compiled, cursor) -> list:
        rows, compiler = cursor.fetchall(), compiled.compiler
        if compiled.converters is None:
            rows = compiler.results_iter([rows])
        elif compiled.converters:
            rows = compiler.apply_converters(rows, compiled.converters)
        return [compiled.materialize(row) for row in rows]

    def _compile(self) -> _Compiled:
        queryset = self.build(*self.placeholders)
        connection = connections[queryset.db]
        compiler = queryset.query.get_compiler(connection=connection)
        if queryset.query.select_for_update and not connection.in_atomic_block:
            # Django refuses to compile a locking read outside a transaction; it runs in one
            # (together(): the pipeline's), so compile it as if inside (nothing is sent).
            with transaction.atomic(using=queryset.db):
                sql, params = compiler.as_sql()
        else:
            sql, params = compiler.as_sql()
        # values_list(): the rows as they are; otherwise instances, as QuerySet iteration builds them.
        materialize = tuple if queryset.query.values_select else _instance_builder(compiler, queryset.db)
        # What results_iter() works out on every call, once: the columns' converters.
        fields = [column[0] for column in compiler.select[0:compiler.col_count]]
        converters = None if compiler.has_composite_fields(fields) else compiler.get_converters(fields)
        return _Compiled(connection, sql, params, _slots(params, self.placeholders), compiler, materialize, converters)


def _instance_builder(compiler, db):
    """Row -> model instance with its select_related objects (what ModelIterable does per row)."""
    klass_info, select = compiler.klass_info, compiler.select
    model = klass_info["model"]
    start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
    attnames = [column[0].target.attname for column in select[start:end]]
    populators = get_related_populators(klass_info, select, db)

    def build(row):
        obj = model.from_db(db, attnames, row[start:end])
        for populator in populators:
            populator.populate(row, obj)
        return obj

    return build


class Statement(_Prepared):
    """A statement built for one call, its SQL and parameters final, to send in together() with
    prepared queries; `result(cursor)` reads what it returned."""

    def __init__(self, sql: str, params: list, result, using: str = "default"):
        self.sql, self.params, self.result, self.using = sql, list(params), result, using

    def _compiled(self) -> _Compiled | None:
        connection = connections[self.using]
        return _Compiled(connection, self.sql, tuple(self.params), []) if connection.vendor == "postgresql" else None

    def _through_orm(self, values: tuple):
        with connections[self.using].cursor() as cursor:
            cursor.execute(self.sql, self.params)
            return self.result(cursor)

    def _result(self, compiled: _Compiled, cursor):
        return self.result(cursor)


class PreparedUpdate(_Prepared):
    """`PreparedUpdate(lambda pk, now: (Run.objects.filter(pk=pk), {"heartbeat_at": now}), placeholders)`;
    then `update(value, ...)` runs `queryset.update(**values)` for those values and returns the
    number of rows changed. Placeholders as for PreparedRead."""

    def update(self, *values) -> int:
        return self._run(values)

    def _through_orm(self, values: tuple) -> int:
        queryset, changes = self.build(*values)
        return queryset.update(**changes)

    def _result(self, compiled: _Compiled, cursor) -> int:
        return cursor.rowcount

    def _compile(self) -> _Compiled:
        queryset, changes = self.build(*self.placeholders)
        connection = connections[queryset.db]
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(changes)
        sql, params = query.get_compiler(connection=connection).as_sql()
        return _Compiled(connection, sql, params, _slots(params, self.placeholders))


def _slots(params, placeholders) -> list[tuple[int, int]]:
    """(index in params, index in placeholders) for every parameter that is a placeholder."""
    slots = [(index, which) for index, param in enumerate(params) for which, placeholder in enumerate(placeholders)
             if isinstance(param, type(placeholder)) and param == placeholder]
    if {which for _, which in slots} != set(range(len(placeholders))):
        raise ValueError("a placeholder does not appear in the compiled query's parameters")
    return slots
