"""Django's PostgreSQL backend with a borrow check that costs no round trip for a healthy connection.

With a pool and CONN_HEALTH_CHECKS, Django hands psycopg_pool its `check_connection`, which pings
every connection as it is borrowed. A request borrows two to four times (each async view hop, each
streamed read), so that was as many round trips per request. check_pooled_connection pings only a
connection whose socket shows that the server may have dropped it.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq
from psycopg_pool import ConnectionPool


def check_pooled_connection(conn) -> None:
    """Raise if `conn` is not usable, as psycopg_pool's check does; the pool then replaces it.

    An idle pooled connection has nothing to read. A server that dropped it (a restart, a failover,
    pg_terminate_backend, an idle-session timeout) sent a FATAL message or closed the socket, which
    makes it readable: only then is the ping spent. A connection not idle in a good state is pinged
    (and refused) too.
    """
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):  # closed: fileno() fails
        readable = True
    idle = conn.pgconn.status == pq.ConnStatus.OK and conn.info.transaction_status == pq.TransactionStatus.IDLE
    if readable or not idle:
        ConnectionPool.check_connection(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool = super().pool
        # Django built the pool with psycopg_pool's own check (CONN_HEALTH_CHECKS); the pool calls
        # whatever `_check` holds on each borrow (psycopg_pool 3.3, pinned).
        if pool is not None and getattr(pool, "_check", None) is ConnectionPool.check_connection:
            pool._check = check_pooled_connection
        return pool
