"""Celery worker pieces: a consumer that survives losing its Redis broker with a task in flight,
and the background loops every worker runs beside its tasks.

Celery 5.7 collects the broken connection (which detaches its transport) and then closes it; with
``acks_late`` the close tries to push unacknowledged messages back to Redis through the detached
transport and raises ``AttributeError``, which Celery treats as unrecoverable: the worker exits
instead of reconnecting. The late ack of the task that was running fails the same way once it
finishes. Here a failed channel close during that cleanup is logged and skipped, and the detached
channel answers later acks with a connection error, which Celery logs and moves past.
Nothing is lost by skipping it: Redis redelivers unacknowledged messages after the visibility
timeout, the reaper requeues runs nobody picked up, and runs are claimed in the database, so a
second delivery of the same run is a no-op.
"""

import logging
import threading
from contextlib import contextmanager

from celery.worker.consumer import Consumer
from redis.exceptions import ConnectionError as RedisConnectionError

from .db import release_connections

logger = logging.getLogger(__name__)


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


def run_periodically(name: str, action, *, every: float, stop: threading.Event, at_once: bool = False) -> threading.Thread:
    """Call `action` on a daemon thread every `every` seconds (first at once with `at_once`) until
    `stop` is set. A failure is logged and the next turn tries again; the thread's database
    connections are given back after each call, so an idle loop holds none.
    """

    def loop() -> None:
        if not at_once and stop.wait(every):
            return
        while True:
            try:
                action()
            except Exception:  # noqa: BLE001 - the next turn tries again
                logger.exception("%s failed", name)
            finally:
                release_connections()
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread
