"""Julep's streamed chat (`"stream": true`): server-sent events, data-only, as the julep SDK 0.3.9
documents its `stream` flag ("data-only server-sent events ... terminated by a `data: [DONE]`
message") and as Julep's agents API sends them: each `data:` line is a chunk
`{id, created_at, choices: [{index, delta: {role, content}, finish_reason}], usage, docs, jobs}`.

The run is the engine's, followed through its event log like every other stream: text deltas go
out as they arrive, the last chunk carries the finish reason and the usage, then `[DONE]`. A write
that waits for approval ends the stream with the change in words (and as `pending_confirmation`),
as the unstreamed chat answers it; a failed run sends `event: error` before `[DONE]`.
"""

import json

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone

from threads.models import Confirmation, Run
from threads.serializers import pending_change, pending_change_text
from threads.sse import SSE_HEADERS, sse_frame
from threads.streams import KEEPALIVE, follow_batches

from . import julep_chat, julep_context, services
from .julep_serializers import ROLES, stamp
from .models import Session

DONE = b"data: [DONE]\n\n"


def _data(payload: dict) -> bytes:
    return f"data: {json.dumps(payload, default=str)}\n\n".encode()


def _closing(session_id, run_id, confirmation_id):
    """After the stream's last event: the run's usage, the change it waits on (if any), and the
    summary scheduled as an unstreamed chat does."""
    try:
        run = Run.objects.get(pk=run_id)
        change = None
        if confirmation_id is not None:
            confirmation = Confirmation.objects.get(pk=confirmation_id)
            session = Session.objects.get(pk=session_id)
            change = pending_change(confirmation, decide_path=julep_chat.decide_path(session, confirmation))
        elif run.is_terminal:
            session = Session.objects.select_related("thread").filter(pk=session_id).first()
            if session is not None:
                julep_context.schedule(session)
        usage = run.usage or {}
        return {key: int(usage.get(key) or 0) for key in ("total_tokens", "prompt_tokens", "completion_tokens")}, change
    finally:
        connection.close()


closing = sync_to_async(_closing, thread_sensitive=False)


def stream_chat(session: Session, messages: list[dict], options: dict, sampling: dict, *, acting) -> StreamingHttpResponse:
    """Start the turn now (errors are answered as JSON before any byte is streamed), then stream it."""
    input_messages = [(ROLES[m["role"]], m["content"]) for m in messages]
    config = julep_context.apply(session, julep_chat.run_config(session, options, sampling), [m["content"] for m in messages])
    session, run = services.start_turn(session, None, config=config, acting=acting, input_messages=input_messages)
    response_id, created = str(run.id), stamp(timezone.now())

    def chunk(content: str, finish: str | None = None, **extra) -> bytes:
        choice = {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}
        return _data({"id": response_id, "created_at": created, "choices": [choice], "usage": None, "docs": [], "jobs": [], **extra})

    async def frames():
        sent: dict[str, str] = {}  # text streamed so far, per model message
        waiting, failed = None, None
        async for batch in follow_batches(session.thread_id, run.start_event.seq - 1, until_run=run.id):
            if batch is KEEPALIVE:
                yield b": ping\n\n"
                continue
            out = []
            for event in batch:
                kind, data, message_id = event["type"], event["data"], event["message_id"]
                if kind == "assistant_delta" or kind == "assistant_response_message":
                    so_far = sent.get(message_id, "")
                    if kind == "assistant_delta":
                        piece = data["text"]
                    else:  # the whole message: what its deltas did not carry yet
                        text = data.get("text") or ""
                        piece = text[len(so_far):] if text.startswith(so_far) else ""
                    if piece:
                        if not so_far and any(sent.values()):
                            piece = "\n\n" + piece  # a later message of the same turn
                        sent[message_id] = so_far + piece
                        out.append(chunk(piece))
                elif kind == "user_confirmation":
                    waiting = data["confirmation_id"]
                elif kind == "error":
                    failed = data
            if out:
                yield b"".join(out)
            if waiting is not None:
                break  # the run waits for a person: the stream ends, as the unstreamed chat does
        usage, change = await closing(session.id, run.id, waiting)
        if failed is not None:
            yield sse_frame("error", {"detail": failed.get("message") or "The run failed.", "code": failed.get("code") or "run_failed",
                                      "run_id": response_id})
        elif change is not None:
            yield chunk(("\n\n" if any(sent.values()) else "") + pending_change_text(change), "stop", pending_confirmation=change)
        else:
            yield chunk("", "stop", usage=usage, doc_ids={"agent_doc_ids": [], "user_doc_ids": []})
        yield DONE

    return StreamingHttpResponse(frames(), content_type="text/event-stream", headers=SSE_HEADERS)
