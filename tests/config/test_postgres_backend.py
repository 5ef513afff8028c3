"""The pool's borrow check: no round trip for a healthy idle connection, a ping for a dropped one."""

import time

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from config.postgres.base import check_pooled_connection

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")


class CountingConnection(psycopg.Connection):
    """A real connection that counts what goes through execute() (psycopg_pool's ping does)."""

    sent = 0

    def execute(self, *args, **kwargs):
        self.sent += 1
        return super().execute(*args, **kwargs)


def connect() -> CountingConnection:
    db = settings.DATABASES["default"]
    return CountingConnection.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or "postgres", dbname="postgres", autocommit=True,
    )


def test_the_pool_uses_the_cheap_check():
    if not settings.DATABASES["default"]["OPTIONS"].get("pool"):
        pytest.skip("no pool (QUERENT_DB_POOL=false)")
    assert connection.pool._check is check_pooled_connection


def test_a_healthy_idle_connection_is_not_pinged():
    with connect() as conn:
        check_pooled_connection(conn)
        assert conn.sent == 0


def test_a_connection_the_server_dropped_is_pinged_and_refused():
    with connect() as conn, connect() as admin:
        pid = conn.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(psycopg.OperationalError):
            check_pooled_connection(conn)  # the pool discards it and opens a fresh one
        assert conn.sent == 1


def test_a_connection_left_inside_a_transaction_is_refused():
    with connect() as conn:
        conn.autocommit = False
        conn.execute("SELECT 1")  # not what an idle pooled connection looks like
        with pytest.raises(psycopg.Error):
            check_pooled_connection(conn)
