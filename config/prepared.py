"""ORM reads compiled once per thread, for the few that run on every request or run.

Compiling a queryset to SQL is most of what a simple ORM read costs in Python: a worker's claim
(a run with its thread, assistant and data source, some sixty columns) spent more time compiling
than PostgreSQL spent answering. A PreparedRead compiles its queryset the first time each thread
uses it, with placeholder values, and afterwards only binds new values and builds the instances
the way QuerySet iteration does (select_related included).
"""

import threading

from django.db import connections
from django.db.models.query import get_related_populators
from django.db.models.sql import UpdateQuery


class PreparedRead:
    """`PreparedRead(lambda pk: Run.objects.select_related("thread").filter(pk=pk), placeholders)`;
    then `read(value, ...)` returns the instances that `build(value, ...)` would give (or, for a
    values_list() queryset, its rows as tuples).

    `placeholders` are values of the right types that no real call uses; every parameter the
    compiled SQL takes from one of them is replaced by the caller's value, as is (PostgreSQL, where
    psycopg adapts UUIDs, strings and numbers itself; elsewhere each read goes through the ORM).
    """

    def __init__(self, build, placeholders: tuple, using: str = "default"):
        self.build = build
        self.placeholders = placeholders
        self.using = using
        self._local = threading.local()

    def read(self, *values) -> list:
        if connections[self.using].vendor != "postgresql":
            # Other databases want values prepared per field (SQLite stores UUIDs as text): the ORM.
            return list(self.build(*values))
        compiled = getattr(self._local, "compiled", None)
        if compiled is None:
            compiled = self._local.compiled = self._compile()
        compiler, sql, params, slots, materialize = compiled
        bound = list(params)
        for index, which in slots:
            bound[index] = values[which]
        with compiler.connection.cursor() as cursor:
            cursor.execute(sql, bound)
            rows = cursor.fetchall()
        return [materialize(row) for row in compiler.results_iter([rows])]

    def _compile(self):
        queryset = self.build(*self.placeholders)
        connection = connections[queryset.db]
        compiler = queryset.query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        slots = _slots(params, self.placeholders)
        klass_info, select = compiler.klass_info, compiler.select
        if queryset.query.values_select:  # values_list(): the rows as they are
            return compiler, sql, params, slots, lambda row: tuple(row)
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        attnames = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(klass_info, select, queryset.db)

        def materialize(row):
            obj = model.from_db(queryset.db, attnames, row[start:end])
            for populator in populators:
                populator.populate(row, obj)
            return obj

        return compiler, sql, params, slots, materialize


class PreparedUpdate:
    """`PreparedUpdate(lambda pk, now: (Run.objects.filter(pk=pk), {"heartbeat_at": now}), placeholders)`;
    then `update(value, ...)` runs `queryset.update(**values)` for those values and returns the
    number of rows changed. Placeholders as for PreparedRead."""

    def __init__(self, build, placeholders: tuple, using: str = "default"):
        self.build = build
        self.placeholders = placeholders
        self.using = using
        self._local = threading.local()

    def update(self, *values) -> int:
        if connections[self.using].vendor != "postgresql":
            queryset, changes = self.build(*values)
            return queryset.update(**changes)
        compiled = getattr(self._local, "compiled", None)
        if compiled is None:
            compiled = self._local.compiled = self._compile()
        connection, sql, params, slots = compiled
        bound = list(params)
        for index, which in slots:
            bound[index] = values[which]
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            return cursor.rowcount

    def _compile(self):
        queryset, changes = self.build(*self.placeholders)
        connection = connections[queryset.db]
        query = queryset.query.chain(UpdateQuery)
        query.add_update_values(changes)
        sql, params = query.get_compiler(connection=connection).as_sql()
        return connection, sql, params, _slots(params, self.placeholders)


def _slots(params, placeholders) -> list[tuple[int, int]]:
    """(index in params, index in placeholders) for every parameter that is a placeholder."""
    slots = [(index, which) for index, param in enumerate(params) for which, placeholder in enumerate(placeholders)
             if isinstance(param, type(placeholder)) and param == placeholder]
    if {which for _, which in slots} != set(range(len(placeholders))):
        raise ValueError("a placeholder does not appear in the compiled query's parameters")
    return slots
