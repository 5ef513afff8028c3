"""Server-sent events: frames, headers, and where a re-joining client left off."""

import json

from rest_framework.exceptions import ParseError

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_frame(event: str, data=None, *, event_id=None, newline: str = "\n", compact: bool = False) -> bytes:
    """One SSE frame; `data=None` sends the event without a data line (OpenGPTs' `end`, as
    sse-starlette writes it: a client that parses every data line as JSON must not meet an empty one)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    if data is not None:
        # compact: no spaces and UTF-8 as is, as orjson writes it (OpenGPTs' frames)
        payload = json.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False) if compact else json.dumps(data, default=str)
        lines.extend(f"data: {line}" for line in payload.split("\n"))
    return (newline.join(lines) + newline + newline).encode()


def last_event_id(request, default: int = 0) -> int:
    """The seq a client has seen: `Last-Event-ID` (SSE reconnects) or `?after=`."""
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after")
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ParseError("after / Last-Event-ID must be an integer event seq.", code="bad_request") from None
    if value < 0:
        raise ParseError("after / Last-Event-ID must be >= 0.", code="bad_request")
    return value
