"""PromptQL's async views: start a run and stream its events, re-join a thread's stream.

They hold no database connection between reads: every read borrows one from the pool and returns it.
"""

import uuid

from django.http import JsonResponse, StreamingHttpResponse
from rest_framework.exceptions import NotFound, ValidationError

from config.async_api import AsyncApiView, authenticate
from config.db import in_worker_thread

from .. import selectors, services
from ..events import PROMPTQL_EVENTS
from ..serializers import MessageInSerializer, event_dict
from ..sse import SSE_HEADERS, last_event_id, sse_frame
from ..streams import KEEPALIVE, active_run_id, follow, follow_batches, subscribed_while

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


@in_worker_thread
def _start(principal, thread_id, message: dict, new_thread_id):
    """The run, the seq before its `start` event, and that event."""
    from assistants.models import Assistant

    thread = assistant = None
    if thread_id is not None:
        thread = selectors.get_thread(principal, thread_id)
    elif message.get("assistant_id"):
        assistant = Assistant.objects.readable_by(principal).filter(pk=message["assistant_id"]).first()
        if assistant is None:
            raise NotFound("assistant not found")
    _, run = services.do_ask(principal, thread, message["message"], assistant=assistant, new_thread_id=new_thread_id)
    return run.id, run.start_event.seq - 1, run.start_event.as_dict()


async def ask(request, principal, body: dict, thread_id=None):
    """`POST /threads` with a message, or `POST /threads/{id}`: the run's events as SSE, or all of
    them as one JSON with `"stream": false`."""
    serializer = MessageInSerializer(data=body)
    if not serializer.is_valid():
        raise ValidationError(serializer.errors)
    message = serializer.validated_data
    stream_thread_id = thread_id or uuid.uuid4()  # a new thread's id is chosen here, to subscribe first
    # Subscribed before the run is written, so the stream starts from the `start` event it wrote
    # instead of reading the log back.
    wakeups, (run_id, before, start) = await subscribed_while(
        stream_thread_id, lambda: _start(principal, thread_id, message, None if thread_id else stream_thread_id)
    )
    include = _event_filter(request)
    following = {"wakeups": wakeups, "known": [start]}
    if not message["stream"]:
        events = await _collect(stream_thread_id, before, run_id, include, **following)
        return JsonResponse({"thread_id": str(stream_thread_id), "run_id": str(run_id), "events": events})
    return await _sse(stream_thread_id, before, run_id, include, **following)


@in_worker_thread
def _visible_thread_id(principal, thread_id):
    return selectors.get_thread(principal, thread_id).id


class ThreadEventsView(AsyncApiView):
    """Re-join a thread's stream: replay after `after`/Last-Event-ID, then follow the active run."""

    async def get(self, request, thread_id):
        principal = await authenticate(request)
        await _visible_thread_id(principal, thread_id)  # another's thread is a 404
        after = last_event_id(request)
        include = _event_filter(request)
        wants_sse = "text/event-stream" in request.headers.get("Accept", "") or request.GET.get("format") == "sse"
        run_id = await active_run_id(thread_id) if wants_sse or request.GET.get("wait") == "1" else None
        if wants_sse:
            return await _sse(thread_id, after, run_id, include)
        events = await _collect(thread_id, after, run_id, include)
        return JsonResponse({"thread_id": str(thread_id), "events": events, "last_seq": events[-1]["id"] if events else after})
