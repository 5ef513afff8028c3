"""Celery/kombu: a worker that survives losing its Redis broker with a task in flight.

Without it the worker exits instead of reconnecting, which is a correctness fix, not a speed-up:
Celery 5.7.0's ``Consumer.on_connection_error_after_connected`` collects the broken connection
(kombu's ``Connection.collect`` detaches its transport) and then closes it; with ``acks_late`` the
close makes kombu's Redis ``Channel.close`` push unacknowledged messages back to Redis through the
detached transport, which raises ``AttributeError``, and Celery treats that as unrecoverable. The
late ack of the task that was running fails the same way once it finishes.

Checked against celery 5.7.0, kombu 5.7.0 and redis 8.1.0 (pinned in pyproject.toml). Measured gain:
none per run (the overrides run only after a broker connection is lost). The test that fails when a
library changes under it: tests/faults/test_redis_restart.py::test_stream_survives_a_redis_restart
(a run waiting for approval while the worker's Redis restarts; afterwards a new run must go through,
which it cannot when the worker has exited), and tests/config/test_patches.py checks that the hooks
below still exist where they are overridden.

Patches, one per non-public thing used:

1. ``ReconnectingConsumer.on_connection_error_after_connected`` overrides Celery's
   ``celery.worker.consumer.Consumer.on_connection_error_after_connected`` (internal; the consumer
   class is chosen with the documented ``worker_consumer`` setting) and calls it after step 2.
2. It sets ``maybe_close_channel`` on that one kombu ``Connection`` instance, the method
   ``Connection.collect``/``close`` call for the default channel (kombu internal): a channel close
   that fails with ``AttributeError`` (the detached transport) is logged and skipped.
3. The skipped channel's ``conn_or_acquire`` (kombu's Redis ``Channel``, internal) is replaced by one
   that raises ``redis.ConnectionError``, so a later ack on that channel is a connection error, which
   Celery logs and moves past.

Nothing is lost by skipping the restore: Redis redelivers unacknowledged messages after the
visibility timeout, the reaper requeues runs nobody picked up, and runs are claimed in the
database, so a second delivery of the same run is a no-op.
"""

import logging
from contextlib import contextmanager

from celery.worker.consumer import Consumer
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

# The versions these overrides were read against; tests/config/test_patches.py fails on any other.
CHECKED_AGAINST = {"celery": "5.7.0", "kombu": "5.7.0", "redis": "8.1.0"}


class ReconnectingConsumer(Consumer):
    def on_connection_error_after_connected(self, exc):
        connection = self.connection
        if connection is not None:
            expected = connection.connection_errors + connection.channel_errors

            def close_channel_quietly(channel):
                try:
                    channel.close()
                except expected:
                    pass
                except AttributeError as error:  # transport already detached by collect()
                    logger.warning("broker channel closed without restoring unacked messages: %s", error)
                    channel.conn_or_acquire = _detached

            connection.maybe_close_channel = close_channel_quietly
        super().on_connection_error_after_connected(exc)


@contextmanager
def _detached(client=None):
    raise RedisConnectionError("this broker channel belongs to a connection that was replaced")
    yield  # pragma: no cover - makes this a generator for contextmanager
