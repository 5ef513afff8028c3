"""Declared actions for SQLite data sources, as Python functions on the write connection.

SQLite has no stored functions, so an action a Postgres source defines in SQL is registered here
under the same name and arity; the same `SELECT issue_credit(5, 20.00)` then works on both engines.
They exist only on write connections: a read connection cannot call them even past the guard.
"""

import sqlite3
from collections.abc import Callable


def _issue_credit(conn: sqlite3.Connection) -> Callable:
    def issue_credit(customer_id, amount):
        cursor = conn.execute("INSERT INTO credit (customer_id, amount) VALUES (?, ?)", (customer_id, amount))
        return cursor.lastrowid

    return issue_credit


SQLITE_ACTIONS: dict[str, tuple[int, Callable[[sqlite3.Connection], Callable]]] = {
    "issue_credit": (2, _issue_credit),
}


def register_actions(conn: sqlite3.Connection, actions, failures: list[Exception] | None = None) -> list[Exception]:
    """Register the declared actions. Their exceptions are appended to `failures`, because SQLite
    reports any exception from a Python function only as "user-defined function raised exception"."""
    failures = [] if failures is None else failures
    for name in actions or ():
        spec = SQLITE_ACTIONS.get(name.lower())
        if spec:
            arity, factory = spec
            conn.create_function(name.lower(), arity, _recording(factory(conn), failures))
    return failures


def _recording(function: Callable, failures: list[Exception]) -> Callable:
    def wrapper(*args):
        try:
            return function(*args)
        except Exception as exc:
            failures.append(exc)
            raise

    return wrapper
