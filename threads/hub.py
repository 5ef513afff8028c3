"""Live wake-ups from Redis pub/sub: one connection per process and event loop, shared by every
stream in it. Knows Redis and channels, not the database: what a wake-up means for a follower is
threads.streams' business.
"""

import asyncio
import json
import logging

from django.conf import settings

from .bus import thread_channel

log = logging.getLogger(__name__)

# How long a follower waits for Redis to confirm its subscription before it polls instead.
SUBSCRIBE_TIMEOUT = 2.0
RECONNECT_DELAY = 1.0


class Hub:
    """One Redis pub/sub connection per process and event loop, shared by every follower in it.

    Followers of a thread share one subscription (reference-counted) and are woken by a single
    receive loop, so 200 open streams cost one connection and one subscription per thread, not 200.
    A follower reads the log only after Redis confirmed its subscription, so no event committed
    after that read can pass unannounced. If Redis fails, every follower is woken (it re-reads the
    log and polls); the hub reconnects, subscribes again and wakes them once more to close the gap.
    Each subscribed thread has a tail (made by `make_tail`, threads.streams' shared view of the
    log) that notes every wake-up, so followers woken together share one read of the log.
    """

    def __init__(self, url: str, loop, make_tail):
        self.url = url
        self.loop = loop
        self.make_tail = make_tail
        self.client = None
        self.pubsub = None
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self.tails: dict = {}
        self.lock = asyncio.Lock()
        self.receiver = None
        self.subscribing: dict[str, asyncio.Future] = {}  # channel -> Redis' confirmation
        self.listening = asyncio.Event()  # set when there is a subscription to read from
        self.reconnecting = False
        self.restoring = None

    async def join(self, thread_id: str) -> asyncio.Event | None:
        if self.reconnecting:
            return None  # poll until the hub is back
        event = asyncio.Event()
        try:
            async with self.lock:
                await self._ensure_connection()
                if not self.waiters.get(thread_id):
                    await self._confirmed(await self._subscribe([thread_id]))
                self.waiters.setdefault(thread_id, set()).add(event)
                self.tails.setdefault(thread_id, self.make_tail())
        except Exception as exc:  # noqa: BLE001 - the follower polls instead
            log.warning("live events unavailable, polling instead: %s", type(exc).__name__)
            return None
        return event

    async def leave(self, thread_id: str, event: asyncio.Event) -> None:
        waiters = self.waiters.get(thread_id)
        if not waiters:
            return
        waiters.discard(event)
        if not waiters:
            del self.waiters[thread_id]
            self.tails.pop(thread_id, None)
            # In the background: a stream's last frame and its end go out without waiting for
            # Redis' reply. A follower that joins meanwhile is found under the lock and kept.
            background(asyncio.get_running_loop().create_task(self._unsubscribe(thread_id)))

    async def _unsubscribe(self, thread_id: str) -> None:
        try:
            async with self.lock:
                if self.pubsub is not None and thread_id not in self.waiters:
                    await self.pubsub.unsubscribe(thread_channel(thread_id))
        except Exception:  # noqa: BLE001 - a stale subscription only costs a few messages
            pass

    async def _ensure_connection(self) -> None:
        if self.pubsub is None:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # No silent retries: a broken connection must surface here, so followers learn that
            # messages may have been lost and re-read the log.
            self.client = aioredis.Redis.from_url(
                self.url, socket_timeout=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0),
                client_name=f"{settings.CHANNEL_PREFIX}-events",  # findable in CLIENT LIST
            )
            self.pubsub = self.client.pubsub()
        if self.receiver is None or self.receiver.done():
            self.receiver = asyncio.get_running_loop().create_task(self._receive_loop())

    async def _subscribe(self, thread_ids) -> list[asyncio.Future]:
        """Send SUBSCRIBE; the returned futures resolve as the receive loop reads Redis' replies."""
        loop = asyncio.get_running_loop()
        channels = [thread_channel(thread_id) for thread_id in thread_ids]
        confirmations = [self.subscribing.setdefault(channel, loop.create_future()) for channel in channels]
        await self.pubsub.subscribe(*channels)
        self.listening.set()
        return confirmations

    @staticmethod
    async def _confirmed(confirmations) -> None:
        await asyncio.wait_for(asyncio.gather(*(asyncio.shield(c) for c in confirmations)), SUBSCRIBE_TIMEOUT)

    async def _receive_loop(self) -> None:
        while True:
            try:
                if not self.pubsub.subscribed:
                    self.listening.clear()
                    await self.listening.wait()
                    continue
                message = await self.pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis went away
                log.warning("live events interrupted, followers poll until Redis is back: %s", type(exc).__name__)
                await self._reconnect()
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict) -> None:
        channel = message.get("channel")
        channel = channel.decode() if isinstance(channel, bytes) else channel
        if message.get("type") == "subscribe":
            confirmation = self.subscribing.pop(channel, None)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(True)
            return
        if message.get("type") != "message":
            return
        try:
            data = json.loads(message["data"])
            thread_id = str(data["thread_id"])
        except (KeyError, TypeError, ValueError):
            return
        if thread_id in self.tails:
            self.tails[thread_id].note(data)
        for event in self.waiters.get(thread_id, ()):
            event.set()

    def _wake_everyone(self) -> None:
        """Messages may have been lost: every follower must read the log, not trust the pushes."""
        for tail in self.tails.values():
            tail.forget_pushed()
        for waiters in self.waiters.values():
            for event in waiters:
                event.set()

    async def _reconnect(self) -> None:
        """Called by the receive loop when Redis failed: drop the connection, make a new one and
        subscribe again. The replies come back through the receive loop, so waiting for them is
        left to _restored, off this task."""
        self.reconnecting = True
        self._wake_everyone()
        for confirmation in self.subscribing.values():
            if not confirmation.done():
                confirmation.set_exception(ConnectionError("Redis connection lost"))
                confirmation.exception()  # retrieved: no "never retrieved" warning if nobody waits
        self.subscribing.clear()
        await self._drop_connection()
        while True:
            await asyncio.sleep(RECONNECT_DELAY)
            try:
                async with self.lock:
                    await self._ensure_connection()
                    confirmations = await self._subscribe(list(self.waiters)) if self.waiters else []
                break
            except Exception:  # noqa: BLE001 - still down: try again
                await self._drop_connection()
        self.restoring = asyncio.get_running_loop().create_task(self._restored(confirmations))  # keep a reference

    async def _restored(self, confirmations) -> None:
        try:
            await self._confirmed(confirmations)
            log.info("live events restored")
        except Exception as exc:  # noqa: BLE001 - the receive loop finds a bad connection itself
            log.warning("live events: resubscribing was not confirmed: %s", type(exc).__name__)
        self.reconnecting = False
        self._wake_everyone()  # events published while disconnected are only in the log

    async def _drop_connection(self) -> None:
        old, self.pubsub, self.client = self.client, None, None
        if old is not None:
            try:
                await old.aclose()
            except Exception:  # noqa: BLE001 - it is broken already
                pass


_hubs: dict[int, Hub] = {}


def hub_of_this_loop(make_tail) -> Hub | None:
    """This process's hub for the running event loop; None without Redis (followers poll)."""
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None or hub.loop is not loop:
        hub = _hubs[id(loop)] = Hub(settings.REDIS_URL, loop, make_tail)
    return hub


_pending_tasks: set = set()


def background(task) -> None:
    _pending_tasks.add(task)  # a reference until it is done, so it is not collected half-way
    task.add_done_callback(_pending_tasks.discard)
