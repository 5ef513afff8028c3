"""The run store: every write of the engine's state goes through `store`.

Starting a run, appending events, claiming a run, finishing it and closing confirmations each
keep their rules here, once (with the two reads every run makes: the claimed run loaded with what
the agent loop needs, and the thread's history): the thread's lock and the one-run-at-a-time rule, the per-thread
event seq, the message seq, and the wake-ups sent after commit. `RunStore` writes through the ORM
on any database; PostgreSQL gets `PostgresRunStore`, the same writes as fewer plain-SQL
statements. The choice is made once, when this module is imported; callers never ask which.
"""

from django.db import connection

from .orm import BUSY, Conflict, RunStore


def _store_for_this_database() -> RunStore:
    if connection.vendor == "postgresql":
        from .postgres import PostgresRunStore

        return PostgresRunStore()
    return RunStore()


store = _store_for_this_database()

__all__ = ["BUSY", "Conflict", "RunStore", "store"]
