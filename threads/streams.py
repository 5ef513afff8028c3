"""Following a thread's event log: replay after a seq, then live, with no gap and no duplicate.

The log in the database is the truth; a channels-layer message says "look again now", and carries
the event itself when it is small: a follower that has every event up to the announced one takes
them from the messages and skips the read. If the layer is missing (embedded mode) or down (Redis
restarting), the follower polls the log instead.
"""

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from .bus import thread_group
from .events import TERMINAL_EVENTS
from .models import Run, RunEvent

log = logging.getLogger(__name__)

KEEPALIVE = object()
BATCH = 500
STALE_CHECK_EVERY = 5.0


def _fetch_sync(thread_id, after: int) -> list[dict]:
    try:
        events = RunEvent.objects.filter(thread_id=thread_id, seq__gt=after).order_by("seq")[:BATCH]
        return [event.as_dict() for event in events]
    finally:
        connection.close()  # give the connection back to the pool: an idle stream holds none


def _run_state_sync(run_id) -> tuple[str | None, bool]:
    try:
        run = Run.objects.filter(pk=run_id).only("status", "heartbeat_at").first()
        if run is None:
            return None, False
        stale = (
            run.status in (Run.Status.RUNNING, Run.Status.REQUIRES_ACTION)
            and run.heartbeat_at is not None
            and (timezone.now() - run.heartbeat_at).total_seconds() > settings.RUN_STALE_AFTER
        )
        if stale:
            from .services import reap_stale_runs

            reap_stale_runs()
        return run.status, stale
    finally:
        close_old_connections()
        connection.close()


fetch_events = sync_to_async(_fetch_sync, thread_sensitive=False)
run_state = sync_to_async(_run_state_sync, thread_sensitive=False)


# How long one read of a thread's log may be reused by other followers in the process when no
# wake-up arrived since. Short: it only has to cover a burst of followers reading together.
SHARED_READ_TTL = 0.2


# Events that arrived inside wake-ups, kept per thread for followers that are a little behind.
PUSHED_KEEP = 256


class _Tail:
    """What this process knows of one thread's log, shared by its followers of that thread: the
    events that came inside wake-ups, and the last read of the log."""

    def __init__(self):
        self.lock = asyncio.Lock()
        self.generation = 0  # bumped by every wake-up for the thread
        self.announced = 0  # the highest seq any wake-up announced
        self.pushed: dict[int, dict] = {}
        self.read_generation = -1
        self.read_after = 0
        self.read_at = 0.0
        self.events: list[dict] = []

    def note(self, message: dict) -> None:
        """A wake-up arrived: remember its seq and, when it carries one, the event."""
        self.generation += 1
        seq = message.get("seq")
        if isinstance(seq, int):
            self.announced = max(self.announced, seq)
        wire = message.get("event")
        if wire:
            try:
                self.pushed[wire["seq"]] = RunEvent.from_wire(wire)
            except (KeyError, TypeError, ValueError):
                return  # not ours to understand: the log has it
            while len(self.pushed) > PUSHED_KEEP:
                del self.pushed[next(iter(self.pushed))]

    def _from_pushed(self, after: int) -> list[dict] | None:
        """Every event after `after` up to the last announced one, if all came inside wake-ups.

        None sends the follower to the log: nothing new was announced (a poll, or a lost publish,
        which only the log can reveal), or one announced event did not come along (too big, or
        published while this process was not listening).
        """
        if self.announced <= after:
            return None
        events = []
        for seq in range(after + 1, self.announced + 1):
            event = self.pushed.get(seq)
            if event is None:
                return None
            events.append(event)
        return events

    async def read(self, thread_id, after: int) -> list[dict]:
        async with self.lock:
            pushed = self._from_pushed(after)
            if pushed is not None:
                return pushed
            fresh = self.read_generation == self.generation and time.monotonic() - self.read_at < SHARED_READ_TTL
            if fresh and self.read_after <= after:
                return [event for event in self.events if event["seq"] > after]
            generation, started = self.generation, time.monotonic()
            events = await fetch_events(thread_id, after)
            if len(events) < BATCH:  # a partial batch is not "everything after", so it is not shared
                self.read_generation, self.read_after, self.read_at, self.events = generation, after, started, events
            return events


class _Hub:
    """One channel-layer channel per process and event loop, shared by every follower in it.

    Followers of a thread share one group membership (reference-counted) and are woken by a single
    receive loop, so 200 open streams cost one Redis receive and one membership per thread, not 200.
    If the layer fails, every follower is woken (it re-reads the log) and the hub rejoins later.
    Followers woken together share one read of the log (_Tail), so a wake-up costs one query per
    thread, not one per follower.
    """

    def __init__(self, layer):
        self.layer = layer
        self.channel = None
        self.waiters: dict[str, set[asyncio.Event]] = {}
        self.tails: dict[str, _Tail] = {}
        self.lock = asyncio.Lock()
        self.receiver = None

    async def join(self, thread_id: str) -> asyncio.Event | None:
        event = asyncio.Event()
        try:
            async with self.lock:
                await self._ensure_channel()
                if not self.waiters.get(thread_id):
                    await self.layer.group_add(thread_group(thread_id), self.channel)
                self.waiters.setdefault(thread_id, set()).add(event)
                self.tails.setdefault(thread_id, _Tail())
        except Exception as exc:  # noqa: BLE001 - the follower polls instead
            log.warning("channel layer unavailable, polling instead: %s", type(exc).__name__)
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
            try:
                async with self.lock:
                    if self.channel is not None and thread_id not in self.waiters:
                        await self.layer.group_discard(thread_group(thread_id), self.channel)
            except Exception:  # noqa: BLE001 - membership expires by itself
                pass

    async def _ensure_channel(self) -> None:
        if self.channel is None:
            self.channel = await self.layer.new_channel()
            for thread_id in self.waiters:
                await self.layer.group_add(thread_group(thread_id), self.channel)
        if self.receiver is None or self.receiver.done():
            self.receiver = asyncio.get_running_loop().create_task(self._receive_loop())

    async def _receive_loop(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis went away
                log.warning("channel layer receive failed, followers poll until it is back: %s", type(exc).__name__)
                self.channel = None
                for tail in self.tails.values():
                    tail.generation += 1
                for waiters in self.waiters.values():
                    for event in waiters:
                        event.set()
                await asyncio.sleep(1.0)
                try:
                    async with self.lock:
                        await self._rejoin()
                except Exception:  # noqa: BLE001 - try again on the next turn
                    continue
                continue
            thread_id = message.get("thread_id")
            if thread_id in self.tails:
                self.tails[thread_id].note(message)
            for event in self.waiters.get(thread_id, ()):
                event.set()

    async def _rejoin(self) -> None:
        self.channel = await self.layer.new_channel()
        for thread_id in self.waiters:
            await self.layer.group_add(thread_group(thread_id), self.channel)


_hubs: dict[int, _Hub] = {}


def _hub() -> _Hub | None:
    layer = get_channel_layer()
    if layer is None:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(id(loop))
    if hub is None or hub.layer is not layer:
        hub = _hubs[id(loop)] = _Hub(layer)
    return hub


class _Wakeups:
    """A follower's wake-up signal for one thread: the process hub's event, or plain polling."""

    def __init__(self, thread_id):
        self.thread_id = str(thread_id)
        self.hub = None
        self.event = None

    async def __aenter__(self):
        self.hub = _hub()
        if self.hub is not None:
            self.event = await self.hub.join(self.thread_id)
        return self

    async def __aexit__(self, *exc):
        if self.hub is not None and self.event is not None:
            await self.hub.leave(self.thread_id, self.event)

    async def read(self, after: int) -> list[dict]:
        """The log after `after`, shared with this process's other followers of the thread."""
        tail = self.hub.tails.get(self.thread_id) if self.event is not None else None
        if tail is None:
            return await fetch_events(self.thread_id, after)
        return await tail.read(self.thread_id, after)

    async def wait(self, timeout: float) -> None:
        timeout = min(timeout, settings.EVENT_POLL_INTERVAL)
        if self.event is None:
            await asyncio.sleep(timeout)
            if self.hub is not None:
                self.event = await self.hub.join(self.thread_id)
            return
        try:
            await asyncio.wait_for(self.event.wait(), timeout=timeout)
        except asyncio.TimeoutError:
            pass
        self.event.clear()  # cleared before the caller re-reads the log, so no wake-up is lost


async def follow(thread_id, after: int, *, until_run=None, live: bool = False, keepalive: float | None = None):
    """Yield event dicts after `after`; with `until_run`, stop after that run's terminal event.

    With `live`, follow until cancelled (a websocket). With neither, stop once the replay is done
    (a snapshot). Yields KEEPALIVE when idle for `keepalive` seconds so proxies keep the stream open.
    """
    keepalive = keepalive or settings.SSE_KEEPALIVE
    last_activity = time.monotonic()
    last_stale_check = 0.0
    async with _Wakeups(thread_id) as wakeups:
        while True:
            events = await wakeups.read(after)
            for event in events:
                after = event["seq"]
                yield event
                if until_run is not None and event["run_id"] == str(until_run) and event["type"] in TERMINAL_EVENTS:
                    return
            if events:
                last_activity = time.monotonic()
                if len(events) == BATCH:
                    continue
            if until_run is None and not live:
                return
            now = time.monotonic()
            if until_run is not None and now - last_stale_check > STALE_CHECK_EVERY:
                last_stale_check = now
                status, _ = await run_state(until_run)
                if status is None or status in Run.TERMINAL:
                    # Its terminal event committed with the status: one last read drains the log.
                    for event in await fetch_events(thread_id, after):
                        yield event
                    return
            if now - last_activity >= keepalive:
                last_activity = now
                yield KEEPALIVE
            await wakeups.wait(keepalive - (now - last_activity))


def active_run_id_sync(thread_id):
    try:
        run = Run.objects.filter(thread_id=thread_id).exclude(status__in=Run.TERMINAL).order_by("-created_at").only("id").first()
        return run.id if run else None
    finally:
        connection.close()


active_run_id = sync_to_async(active_run_id_sync, thread_sensitive=False)
