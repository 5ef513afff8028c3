"""Following a thread's event log: replay after a seq, then live, with no gap and no duplicate.

The log in the database is the truth; a channels-layer message only says "look again now". If the
layer is missing (embedded mode) or down (Redis restarting), the follower polls instead.
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


class _Wakeups:
    """Group membership on the channel layer, tolerant of the layer failing at any point."""

    def __init__(self, thread_id):
        self.group = thread_group(thread_id)
        self.layer = get_channel_layer()
        self.channel = None

    async def __aenter__(self):
        if self.layer is not None:
            try:
                self.channel = await self.layer.new_channel()
                await self.layer.group_add(self.group, self.channel)
            except Exception as exc:  # noqa: BLE001
                log.warning("channel layer unavailable, polling instead: %s", type(exc).__name__)
                self.channel = None
        return self

    async def __aexit__(self, *exc):
        if self.channel is not None:
            try:
                await self.layer.group_discard(self.group, self.channel)
            except Exception:  # noqa: BLE001 - membership expires by itself
                pass

    async def wait(self, timeout: float) -> None:
        if self.channel is None:
            await asyncio.sleep(min(timeout, settings.EVENT_POLL_INTERVAL))
            await self._rejoin()
            return
        try:
            await asyncio.wait_for(self.layer.receive(self.channel), timeout=min(timeout, settings.EVENT_POLL_INTERVAL))
        except asyncio.TimeoutError:
            pass
        except Exception as exc:  # noqa: BLE001 - Redis went away: poll, and try to rejoin later
            log.warning("channel layer receive failed, polling: %s", type(exc).__name__)
            self.channel = None
            await asyncio.sleep(min(timeout, 0.2))

    async def _rejoin(self):
        if self.layer is None:
            return
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(self.group, self.channel)
        except Exception:  # noqa: BLE001
            self.channel = None


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
            events = await fetch_events(thread_id, after)
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
