"""`POST /runs/stream`: OpenGPTs' SSE (metadata, data [messages so far] as tokens arrive, end with
no data line). A RAGBot's data is {"messages": [...]}, the shape of its state.

OpenGPTs frames with CRLF line ends; so does this view.
"""

import json
import uuid

from django.http import StreamingHttpResponse

from assistants import bots
from config.async_api import AsyncApiView, authenticate, json_body
from config.db import in_worker_thread

from .. import artifact_text
from ..sse import SSE_HEADERS, sse_frame
from ..models import Message
from ..prompt import compact_tool_result
from ..streams import KEEPALIVE, follow_batches, subscribed_while
from . import services
from .messages import langchain_dict
from .serializers import RunInSerializer

CRLF = "\r\n"


@in_worker_thread
def _start(principal, body: dict):
    """The run, its thread, the seq before its `start` event, that event, and whether the thread's
    bot is a RAGBot (its data is {"messages": [...]}, like its state)."""
    serializer = RunInSerializer(data=body)
    serializer.is_valid(raise_exception=True)
    thread, run = services.start_opengpts_run(principal, serializer.validated_data)
    ragbot = bots.bot_type(thread.assistant) == "chat_retrieval"
    return run.id, thread.id, run.start_event.seq - 1, run.start_event.as_dict(), ragbot


_artifacts_of = in_worker_thread(artifact_text.artifacts_of)


def _thread_id_of(body: dict) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(body.get("thread_id")))
    except ValueError:
        return None  # the serializer names the problem


class MessageBuilder:
    """Turns the engine's events into OpenGPTs' growing list of messages for one run."""

    def __init__(self, ragbot: bool = False):
        self.messages: dict[str, dict] = {}
        self.ragbot = ragbot
        self.tool_names: dict[str, str] = {}

    def apply(self, event: dict) -> bool:
        kind, data, message_id = event["type"], event["data"], event["message_id"]
        if kind == "assistant_delta":
            current = self.messages.setdefault(message_id, langchain_dict(message_id=message_id, role=Message.Role.AI, content=""))
            current["content"] += data["text"]
        elif kind == "assistant_response_message":
            calls = [{"id": c["call_id"], "name": c["name"], "arguments": json.dumps(c["input"])} for c in data["tool_calls"]]
            self.tool_names.update((c["id"], c["name"]) for c in calls)
            self.messages[message_id] = langchain_dict(message_id=message_id, role=Message.Role.AI, content=data["text"] or "", tool_calls=calls)
        elif kind == "tool_response_message":
            self.messages[message_id] = langchain_dict(
                message_id=message_id, role=Message.Role.TOOL, content=compact_tool_result(data["output"]),
                tool_call_id=data["call_id"], name=self.tool_names.get(data["call_id"], "execute_python"),
            )
        else:
            return False
        return True

    def has_artifact_tags(self) -> bool:
        return any(m["type"] == "ai" and artifact_text.has_tags(m["content"]) for m in self.messages.values())

    def snapshot(self, artifacts: dict | None = None):
        """The run's messages so far, artifact tags shown as tables (OpenGPTs clients cannot render them)."""
        messages = [
            {**m, "content": artifact_text.render(m["content"], artifacts or {}, streaming=True)}
            if m["type"] == "ai" and artifact_text.has_tags(m["content"]) else m
            for m in self.messages.values()
        ]
        return {"messages": messages} if self.ragbot else messages


class RunsStreamView(AsyncApiView):
    async def post(self, request):
        return await _runs_stream(await authenticate(request), json_body(request))


async def _runs_stream(principal, body: dict):
    # Subscribed before the run is written: the stream starts from the `start` event it wrote
    # instead of reading the log back (see threads.streams.subscribe).
    requested = _thread_id_of(body)
    if requested is None:  # not a thread id: the serializer names the problem
        wakeups, (run_id, thread_id, before, start, ragbot) = None, await _start(principal, body)
    else:
        wakeups, (run_id, thread_id, before, start, ragbot) = await subscribed_while(requested, lambda: _start(principal, body))
    following = {"wakeups": wakeups, "known": [start]} if wakeups is not None else {}

    def other_frame(event: dict) -> bytes:
        if event["type"] == "error":
            code = 403 if event["data"].get("code") == "data_source_unavailable" else 500  # a refusal is not a crash
            return sse_frame("error", {"status_code": code, "message": event["data"]["message"]}, newline=CRLF, compact=True)
        if event["type"] == "finish":
            return sse_frame("end", newline=CRLF)
        return b""

    async def frames():
        metadata = sse_frame("metadata", {"run_id": str(run_id)}, newline=CRLF, compact=True)
        if not following:
            yield metadata
            metadata = b""
        builder = MessageBuilder(ragbot)
        # Events that became known together go out in one write (the answer's data and `end`).
        async for batch in follow_batches(thread_id, before, until_run=run_id, **following):
            if batch is KEEPALIVE:
                yield b": ping" + CRLF.encode() * 2
                continue
            parts = []
            for event in batch:
                built = builder.apply(event)
                if built and builder.has_artifact_tags():
                    parts.append(sse_frame("data", builder.snapshot(await _artifacts_of(thread_id)), newline=CRLF, compact=True))
                elif built:
                    parts.append(sse_frame("data", builder.snapshot(), newline=CRLF, compact=True))
                else:
                    parts.append(other_frame(event))
            chunk = metadata + b"".join(parts)
            metadata = b""
            if chunk:
                yield chunk

    return StreamingHttpResponse(frames(), content_type="text/event-stream", headers=SSE_HEADERS)
