"""Wake-up signals between processes. The database holds the truth; these only cut latency.

- Thread events: after each commit that wrote events, one Redis PUBLISH on the thread's channel
  (`<prefix>:thread:<id>`) names the highest new seq and carries the events that are small, so
  streams take them from the message instead of re-reading the log (threads/streams.py).
- Confirmation decisions: a Redis list the waiting worker blocks on.

Plain pub/sub instead of a channel layer's group_send: one round trip to publish, none to store,
and a subscriber gets the message as soon as Redis has it (group_send took 4-6 ms per wake-up).
Without Redis (embedded mode) both degrade to polling, which is correct, only slower.
"""

import json
import logging
import threading
import time

from django.conf import settings

log = logging.getLogger(__name__)

_clients: dict = {}
_clients_lock = threading.Lock()
_publish_paused_until = 0.0

# Events up to this size travel inside the wake-up, so followers need not read the log for them
# (threads/streams.py); bigger ones (tool outputs with many rows) are only announced.
PUSHED_PAYLOAD_MAX = 32 * 1024
# After a failed publish, skip publishing this long: runs must not stall on a Redis that is down
# (followers poll the log meanwhile).
PUBLISH_PAUSE_AFTER_FAILURE = 1.0


def thread_channel(thread_id) -> str:
    return f"{settings.CHANNEL_PREFIX}:thread:{thread_id}"


def wake_up_message(thread_id, events) -> str:
    """The text published for `events` (RunEvent rows of one thread, in seq order)."""
    carried = [event.wire() for event in events if len(event.payload) <= PUSHED_PAYLOAD_MAX]
    return json.dumps({"thread_id": str(thread_id), "seq": max(event.seq for event in events), "events": carried})


def _redis_client(purpose: str, **timeouts):
    """This process's client for `purpose`, made on first use; None without Redis (embedded mode)."""
    with _clients_lock:
        if purpose not in _clients and settings.REDIS_URL:
            import redis

            _clients[purpose] = redis.Redis.from_url(settings.REDIS_URL, **timeouts)
        return _clients.get(purpose)


def _publisher_client():
    # Short timeouts: a publish sits on the committing thread (a run, a request).
    return _redis_client("publish", socket_timeout=1, socket_connect_timeout=0.5)


def _confirmation_client():
    # A blocking pop waits up to a second, well inside the socket timeout.
    return _redis_client("confirmations", socket_timeout=5, socket_connect_timeout=2)


def publish_thread_events(thread_id, events) -> None:
    """Announce committed events to the thread's followers in every process (call after commit)."""
    global _publish_paused_until
    client = _publisher_client()
    if client is None or not events or time.monotonic() < _publish_paused_until:
        return
    try:
        client.publish(thread_channel(thread_id), wake_up_message(thread_id, events))
    except Exception as exc:  # noqa: BLE001 - followers poll the log; the events are committed
        _publish_paused_until = time.monotonic() + PUBLISH_PAUSE_AFTER_FAILURE
        log.warning("live event publish failed (streams fall back to polling): %s", type(exc).__name__)


def _confirmation_key(confirmation_id) -> str:
    return f"{settings.CHANNEL_PREFIX}:confirmation:{confirmation_id}"


def signal_confirmation(confirmation_id) -> None:
    client = _confirmation_client()
    if client is None:
        return
    try:
        key = _confirmation_key(confirmation_id)
        pipe = client.pipeline()
        pipe.lpush(key, "1")
        pipe.expire(key, 600)
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - the waiter polls the row anyway
        log.warning("confirmation wake-up failed: %s", type(exc).__name__)


def wait_for_confirmation_signal(confirmation_id, timeout: float) -> None:
    """Block up to `timeout` seconds or until the decision is signalled; the caller re-reads the row."""
    client = _confirmation_client()
    if client is None:
        threading.Event().wait(min(timeout, settings.EVENT_POLL_INTERVAL))
        return
    try:
        client.blpop([_confirmation_key(confirmation_id)], timeout=max(0.05, timeout))
    except Exception:  # noqa: BLE001 - Redis down: fall back to polling
        threading.Event().wait(min(timeout, 0.5))
