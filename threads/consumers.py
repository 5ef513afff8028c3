"""Websocket chat: `ws/threads/` starts a thread, `ws/threads/<id>/` joins one.

Client → server: {"type": "message", "message": "..."} | {"type": "confirm", "confirmation_id", "confirm"}
| {"type": "cancel"}. Server → client: every thread event as {"event", "seq", "data", "run_id"}, and
replies as {"type": "thread" | "ack" | "error", ...}. Connect with `?after=<seq>` to resume.
Credentials revoked while the socket is open (an API key, a session, a deactivated user) end it with
{"type": "error", "code": "credentials_revoked", ...} and close code 4401.
"""

import asyncio
import logging

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.http import Http404

from config.db import in_worker_thread
from config.ws_auth import SocketCredentials

from . import selectors, services
from .models import Confirmation
from .serializers import ConfirmationDecisionSerializer, MessageInSerializer
from .streams import KEEPALIVE, follow

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class ThreadConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.principal = self.scope.get("principal")
        self.thread_id = self.scope["url_route"]["kwargs"].get("thread_id")
        self.pump = None
        self.watchdog = None
        self.refused = False
        if self.principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if self.thread_id is not None and not await self._owns(self.thread_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        self.credentials = SocketCredentials(self.scope)
        self.watchdog = asyncio.create_task(self._close_when_revoked())
        if self.thread_id is not None:
            self._start_pump(self._after_from_query())

    def _after_from_query(self) -> int:
        from urllib.parse import parse_qs

        raw = parse_qs(self.scope.get("query_string", b"").decode()).get("after", ["0"])[0]
        return int(raw) if raw.isdigit() else 0

    @in_worker_thread
    def _owns(self, thread_id) -> bool:
        try:
            selectors.get_thread(self.principal, thread_id)
            return True
        except Http404:
            return False

    def _start_pump(self, after: int) -> None:
        if self.pump is None and not self.refused:
            self.pump = asyncio.create_task(self._forward(after))

    async def _forward(self, after: int) -> None:
        try:
            async for event in follow(self.thread_id, after, live=True):
                if event is KEEPALIVE:
                    await self.send_json({"type": "keepalive"})
                    continue
                await self.send_json({"event": event["type"], "seq": event["seq"], "data": event["data"], "run_id": event["run_id"]})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("websocket pump failed", extra={"thread_id": str(self.thread_id)})
            await self.close(code=1011)

    async def _close_when_revoked(self) -> None:
        try:
            await self.credentials.until_revoked()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            log.exception("websocket credential check failed", extra={"thread_id": str(self.thread_id)})
            await self.close(code=1011)
            return
        await self._refuse_revoked()

    async def _refuse_revoked(self) -> None:
        """Say why, then close: nothing more reaches a principal whose credentials are gone."""
        if self.refused:
            return
        self.refused = True
        for task in (self.pump, self.watchdog):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        self.pump = self.watchdog = None
        message = "credentials revoked or expired (API key revoked, logged out or user deactivated); reconnect with valid credentials"
        await self.send_json({"type": "error", "code": "credentials_revoked", "message": message})
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def disconnect(self, code):
        for task in (self.pump, self.watchdog):
            if task is not None:
                task.cancel()

    async def receive_json(self, content, **kwargs):
        if not await self.credentials.still_valid():
            await self._refuse_revoked()
            return
        if not isinstance(content, dict):
            await self.send_json({"type": "error", "message": "messages must be JSON objects"})
            return
        handlers = {"message": self._on_message, "confirm": self._on_confirm, "cancel": self._on_cancel}
        handler = handlers.get(content.get("type"))
        if handler is None:
            await self.send_json({"type": "error", "message": f"unknown type {content.get('type')!r}; use message, confirm or cancel"})
            return
        try:
            await handler(content)
        except services.Conflict as exc:
            await self.send_json({"type": "error", "message": str(exc)})

    async def decode_json(self, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return None

    async def _on_message(self, content):
        serializer = MessageInSerializer(data={"message": content.get("message")})
        if not serializer.is_valid():
            await self.send_json({"type": "error", "message": "message: " + str(next(iter(serializer.errors.values()))[0])})
            return
        thread_id, after = await self._start(serializer.validated_data["message"])
        if self.thread_id is None:
            self.thread_id = thread_id
            await self.send_json({"type": "thread", "thread_id": str(thread_id)})
            self._start_pump(after)
        await self.send_json({"type": "ack", "of": "message"})

    @in_worker_thread
    def _start(self, message: str):
        thread = None if self.thread_id is None else selectors.get_thread(self.principal, self.thread_id)
        thread, run = services.do_ask(self.principal, thread, message)
        return thread.id, run.start_event.seq - 1  # the pump replays from the run's `start`

    async def _on_confirm(self, content):
        serializer = ConfirmationDecisionSerializer(data=content)
        if self.thread_id is None or not serializer.is_valid():
            await self.send_json({"type": "error", "message": "confirm needs confirmation_id (uuid) and confirm (true/false) on a thread"})
            return
        try:
            await self._decide(serializer.validated_data)
        except Confirmation.DoesNotExist:
            await self.send_json({"type": "error", "message": "confirmation not found on this thread"})
            return
        await self.send_json({"type": "ack", "of": "confirm"})

    @in_worker_thread
    def _decide(self, data):
        thread = selectors.get_thread(self.principal, self.thread_id)
        services.do_decide_confirmation(thread, data["confirmation_id"], approve=data["confirm"], decided_by=str(self.principal))

    async def _on_cancel(self, content):
        if self.thread_id is None:
            await self.send_json({"type": "error", "message": "nothing to cancel"})
            return
        runs = await self._cancel()
        await self.send_json({"type": "ack", "of": "cancel", "cancelled": len(runs)})

    @in_worker_thread
    def _cancel(self):
        return services.do_cancel_runs(selectors.get_thread(self.principal, self.thread_id))
