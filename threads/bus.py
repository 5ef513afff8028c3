"""Wake-up signals between processes. The database holds the truth; these only cut latency.

- Thread events: a message to the channels group `thread.<id>` after each committed event, so
  streams re-read the log at once instead of at their next poll; a small event rides along, and
  a stream that has every event up to it takes it from the message instead of the log.
- Confirmation decisions: a Redis list the waiting worker blocks on.

Without Redis (embedded mode) both degrade to polling, which is correct, only slower.
"""

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync  # noqa: F401 - re-exported for callers that publish from sync code
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger(__name__)

_loop = None
_loop_lock = threading.Lock()
_redis = None


def thread_group(thread_id) -> str:
    return f"thread.{thread_id}"


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a daemon thread, so sync code can publish without a new loop per call."""
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="querent-publisher", daemon=True).start()
            _loop = loop
    return _loop


# Events up to this size travel inside the wake-up, so followers need not read the log for them
# (threads/streams.py); bigger ones (tool outputs with many rows) are only announced.
PUSHED_PAYLOAD_MAX = 32 * 1024


def publish_thread_event(thread_id, seq: int, event=None) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "thread.event", "thread_id": str(thread_id), "seq": seq}
    if event is not None and len(event.payload) <= PUSHED_PAYLOAD_MAX:
        message["event"] = event.wire()
    future = asyncio.run_coroutine_threadsafe(layer.group_send(thread_group(thread_id), message), _publisher_loop())
    future.add_done_callback(_log_failure)


def _log_failure(future) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("live event publish failed (streams fall back to polling): %s", type(exc).__name__)


def _redis_client():
    global _redis
    if _redis is None and settings.REDIS_URL:
        import redis

        _redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    return _redis


def _confirmation_key(confirmation_id) -> str:
    return f"querent:confirmation:{confirmation_id}"


def signal_confirmation(confirmation_id) -> None:
    client = _redis_client()
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
    client = _redis_client()
    if client is None:
        threading.Event().wait(min(timeout, settings.EVENT_POLL_INTERVAL))
        return
    try:
        client.blpop([_confirmation_key(confirmation_id)], timeout=max(0.05, timeout))
    except Exception:  # noqa: BLE001 - Redis down: fall back to polling
        threading.Event().wait(min(timeout, 0.5))
