"""Following a thread's event log: replay after a seq, then live, with no gap and no duplicate.

The log in the database is the truth; a Redis pub/sub message says "look again now", and carries
the events themselves when they are small: a follower that has every event up to the announced one
takes them from the messages and skips the read. Without Redis (embedded mode), or while it is down
(restarting), the follower polls the log instead.
"""

import asyncio
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from .events import TERMINAL_EVENTS
from .hub import background, hub_of_this_loop
from .models import Run, RunEvent


KEEPALIVE = object()
BATCH = 500
STALE_CHECK_EVERY = 5.0


def _fetch_sync(thread_id, after: int) -> list[dict]:
    try:
        events = RunEvent.objects.filter(thread_id=thread_id, seq__gt=after).order_by("seq")[:BATCH]
        return [event.as_dict() for event in events]
    finally:
        connection.close()  # give the connection back to the pool: an idle stream holds none


def _run_status_sync(run_id) -> str | None:
    """The run's status (None if it is gone). Only a read: a run whose worker died is the workers'
    reapers' to retry or fail (threads.tasks), and its terminal event then reaches the stream."""
    try:
        return Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    finally:
        connection.close()


fetch_events = sync_to_async(_fetch_sync, thread_sensitive=False)
run_status = sync_to_async(_run_status_sync, thread_sensitive=False)


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

    def forget_pushed(self) -> None:
        """Wake-ups may have been lost: the next read goes to the log, not to what was pushed."""
        self.generation += 1
        self.announced = 0
        self.pushed.clear()

    def note(self, message: dict) -> None:
        """A wake-up arrived: remember the seq it announces and the events it carries."""
        self.generation += 1
        seq = message.get("seq")
        if isinstance(seq, int):
            self.announced = max(self.announced, seq)
        wires = message.get("events")
        for wire in wires if isinstance(wires, list) else ():
            try:
                self.pushed[wire["seq"]] = RunEvent.from_wire(wire)
            except (KeyError, TypeError, ValueError):
                continue  # not ours to understand: the log has it
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


# A subscription taken before a run starts (subscribe) is left if no stream follows it this soon:
# the client went away before its response began.
ADOPT_WITHIN = 60.0


class _Wakeups:
    """A follower's wake-up signal for one thread: the process hub's event, or plain polling."""

    def __init__(self, thread_id):
        self.thread_id = str(thread_id)
        self.hub = None
        self.event = None
        self.joined = False
        self.expiry = None

    async def join(self) -> "_Wakeups":
        if not self.joined:
            self.joined = True
            self.hub = hub_of_this_loop(_Tail)
            if self.hub is not None:
                self.event = await self.hub.join(self.thread_id)
        return self

    async def __aenter__(self):
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None
        return await self.join()

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self) -> None:
        hub, event, self.event = self.hub, self.event, None
        if hub is not None and event is not None:
            await hub.leave(self.thread_id, event)

    @property
    def announced(self) -> bool:
        """Every event committed from now on will be announced (the hub confirmed the subscription)."""
        return self.event is not None

    def forget_known(self, after: int) -> None:
        """Drop a wake-up that only announced events up to `after`, which the follower has (its
        caller's own write). Not one that may mean lost messages (the hub resets `announced`)."""
        tail = self.hub.tails.get(self.thread_id) if self.event is not None else None
        if tail is not None and 0 < tail.announced <= after:
            self.event.clear()

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


async def subscribe(thread_id) -> _Wakeups:
    """Wake-ups for a thread, taken before the caller writes to it: a stream that then follows with
    `wakeups=` and the events the caller wrote as `known=` needs no first read of the log, since
    every later event is announced. Left after ADOPT_WITHIN if no stream follows; `close()` it if
    the write fails."""
    wakeups = await _Wakeups(thread_id).join()
    loop = asyncio.get_running_loop()
    wakeups.expiry = loop.call_later(ADOPT_WITHIN, lambda: background(loop.create_task(wakeups.close())))
    return wakeups


async def subscribed_while(thread_id, write):
    """subscribe(thread_id), then `await write()` (what writes the run the stream will follow);
    the subscription is left if the write fails. Returns the wake-ups and what `write` returned."""
    wakeups = await subscribe(thread_id)
    try:
        return wakeups, await write()
    except BaseException:
        await wakeups.close()
        raise


async def follow(thread_id, after: int, *, until_run=None, live: bool = False, keepalive: float | None = None,
                 wakeups: _Wakeups | None = None, known=()):
    """Yield event dicts after `after`; with `until_run`, stop after that run's terminal event.

    With `live`, follow until cancelled (a websocket). With neither, stop once the replay is done
    (a snapshot). Yields KEEPALIVE when idle for `keepalive` seconds so proxies keep the stream open.
    `wakeups` and `known` come from subscribe(): the events the caller wrote after subscribing,
    yielded without reading the log.
    """
    async for batch in follow_batches(thread_id, after, until_run=until_run, live=live, keepalive=keepalive, wakeups=wakeups, known=known):
        if batch is KEEPALIVE:
            yield KEEPALIVE
        else:
            for event in batch:
                yield event


async def follow_batches(thread_id, after: int, *, until_run=None, live: bool = False, keepalive: float | None = None,
                         wakeups: _Wakeups | None = None, known=()):
    """follow(), yielding the events that became known together as one list (or KEEPALIVE), so a
    stream can send them in one write: a run's answer and its `finish` usually arrive together."""
    keepalive = keepalive or settings.SSE_KEEPALIVE
    last_activity = time.monotonic()
    last_stale_check = last_activity  # most streams end before the first check is due: no read spent

    def up_to_the_end(events: list) -> tuple[list, bool]:
        """`events` up to and including `until_run`'s terminal one, and whether it came."""
        for index, event in enumerate(events):
            if until_run is not None and event["run_id"] == str(until_run) and event["type"] in TERMINAL_EVENTS:
                return events[:index + 1], True
        return events, False

    async with (wakeups or _Wakeups(thread_id)) as wakeups:
        continuing = []  # the caller's events that continue the log from `after`
        for event in known:
            if event["seq"] == after + 1 + len(continuing):
                continuing.append(event)
        batch, ended = up_to_the_end(continuing)
        if batch:
            after = batch[-1]["seq"]
            yield batch
        if ended:
            return
        # What the caller wrote came along; anything later will be announced. Without a
        # confirmed subscription (polling), or if `known` did not continue the log, read it.
        read_first = not (known and wakeups.announced and after == known[-1]["seq"])
        if not read_first:
            wakeups.forget_known(after)
        while True:
            events = await wakeups.read(after) if read_first else []
            read_first = True
            batch, ended = up_to_the_end(events)
            if batch:
                after = batch[-1]["seq"]
                yield batch
            if ended:
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
                status = await run_status(until_run)
                if status is None or status in Run.TERMINAL:
                    # Its terminal event committed with the status: one last read drains the log.
                    rest = await fetch_events(thread_id, after)
                    if rest:
                        yield rest
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
