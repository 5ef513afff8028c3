"""Async views that start runs and stream their events (PromptQL dialect, seed 000).

They hold no database connection between reads: every read borrows one from the pool and returns it.
"""

import logging
import uuid

from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from config.db import in_worker_thread
from config.errors import first_error

from . import selectors, services
from .events import PROMPTQL_EVENTS
from .http import SSE_HEADERS, HttpError, authenticate, json_body, last_event_id, sse_frame
from .serializers import MessageInSerializer, event_dict
from .streams import KEEPALIVE, active_run_id, follow, follow_batches, subscribed_while

log = logging.getLogger(__name__)

ALL_EVENTS = "all"


def _event_filter(request):
    """PromptQL clients get the seed's event types; `?events=all` adds deltas and decisions."""
    return None if request.GET.get("events") == ALL_EVENTS else PROMPTQL_EVENTS


async def _sse(thread_id, after: int, run_id, include, **following) -> StreamingHttpResponse:
    async def frames():
        opening = b": querent stream\n\n"
        if not following.get("known"):
            yield opening  # nothing to send with it yet: show the stream is open
            opening = b""
        # Events that became known together go out in one write (a run's answer and `finish`).
        async for batch in follow_batches(thread_id, after, until_run=run_id, **following):
            if batch is KEEPALIVE:
                yield b": keep-alive\n\n"
                continue
            chunk = opening + b"".join(
                sse_frame(event["type"], event["data"], event_id=event["seq"]) for event in batch if include is None or event["type"] in include
            )
            opening = b""
            if chunk:
                yield chunk

    return StreamingHttpResponse(frames(), content_type="text/event-stream", headers=SSE_HEADERS)


async def _collect(thread_id, after: int, run_id, include, **following) -> list[dict]:
    collected = []
    async for event in follow(thread_id, after, until_run=run_id, **following):
        if event is not KEEPALIVE and (include is None or event["type"] in include):
            collected.append(event_dict(event))
    return collected


def _validated_message(body: dict) -> dict:
    serializer = MessageInSerializer(data=body)
    if not serializer.is_valid():
        raise HttpError(400, first_error(serializer.errors), errors=serializer.errors)
    return serializer.validated_data


def _start_sync(principal, thread_id, message: dict, new_thread_id):
    from assistants.models import Assistant

    thread = assistant = None
    if thread_id is not None:
        thread = selectors.get_thread(principal, thread_id)
    elif message.get("assistant_id"):
        assistant = Assistant.objects.readable_by(principal).filter(pk=message["assistant_id"]).first()
        if assistant is None:
            raise HttpError(404, "assistant not found")
    try:
        thread, run = services.do_ask(principal, thread, message["message"], assistant=assistant, new_thread_id=new_thread_id)
    except services.Conflict as exc:
        raise HttpError(409, str(exc)) from None
    return run.id, run.start_event.seq - 1, run.start_event.as_dict()


start_run = in_worker_thread(_start_sync)


async def promptql_post(request, principal, body: dict, thread_id=None):
    message = _validated_message(body)
    stream_thread_id = thread_id or uuid.uuid4()  # a new thread's id is chosen here, to subscribe first
    # Subscribed before the run is written, so the stream starts from the `start` event it wrote
    # instead of reading the log back.
    try:
        wakeups, (run_id, before, start) = await subscribed_while(
            stream_thread_id, lambda: start_run(principal, thread_id, message, None if thread_id else stream_thread_id)
        )
    except Http404 as exc:
        raise HttpError(404, str(exc) or "thread not found") from None
    include = _event_filter(request)
    following = {"wakeups": wakeups, "known": [start]}
    if not message["stream"]:
        events = await _collect(stream_thread_id, before, run_id, include, **following)
        return JsonResponse({"thread_id": str(stream_thread_id), "run_id": str(run_id), "events": events})
    return await _sse(stream_thread_id, before, run_id, include, **following)


@in_worker_thread
def _visible_thread_id(principal, thread_id):
    return selectors.get_thread(principal, thread_id).id


async def thread_events(request, thread_id):
    """Re-join a thread's stream: replay after `after`/Last-Event-ID, then follow the active run."""
    try:
        principal = await authenticate(request)
        try:
            await _visible_thread_id(principal, thread_id)
        except Http404:
            raise HttpError(404, "thread not found") from None
        after = last_event_id(request)
        include = _event_filter(request)
        wants_sse = "text/event-stream" in request.headers.get("Accept", "") or request.GET.get("format") == "sse"
        run_id = await active_run_id(thread_id) if wants_sse or request.GET.get("wait") == "1" else None
        if wants_sse:
            return await _sse(thread_id, after, run_id, include)
        events = await _collect(thread_id, after, run_id, include)
        return JsonResponse({"thread_id": str(thread_id), "events": events, "last_seq": events[-1]["id"] if events else after})
    except HttpError as exc:
        return exc.response()


thread_events = csrf_exempt(thread_events)
