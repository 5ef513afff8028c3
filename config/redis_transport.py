"""kombu's Redis transport, with one reused client per channel for its synchronous commands.

kombu builds a new `redis.Redis` for every command it sends outside the event loop (a task's
publish, a worker's ack), about 0.2 ms of Python each on this project's hardware, on a connection
pool that belongs to the channel anyway. A `redis.Redis` over a pool is safe to share between
threads (each command borrows a pooled connection), so the channel keeps one per pool.
"""

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:  # a new pool after a reconnect
            client = self._sync_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel


def register() -> None:
    """Serve redis:// and rediss:// broker URLs with this transport (kombu picks it by scheme)."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = "config.redis_transport:Transport"
