"""A small, strict SSE reader for httpx streams (the format is parsed, not pattern-matched)."""

import json
from dataclasses import dataclass


@dataclass
class SseEvent:
    event: str
    data: object
    id: int | None


def iter_sse(response):
    """Yield SseEvent from an httpx streaming response; comments (keep-alives) are skipped."""
    event, data_lines, event_id = "message", [], None
    for line in response.iter_lines():
        if line == "":
            if data_lines:
                yield SseEvent(event, json.loads("\n".join(data_lines)), event_id)
            event, data_lines, event_id = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data_lines.append(value)
        elif field == "id":
            event_id = int(value)


def read_until(events, stop_type: str, limit: int = 200) -> list[SseEvent]:
    seen = []
    for event in events:
        seen.append(event)
        if event.event == stop_type:
            return seen
        if len(seen) >= limit:
            break
    raise AssertionError(f"stream ended before {stop_type!r}: {[e.event for e in seen]}")


def sse_frames(response):
    """(event, data text) pairs of a `requests` or httpx stream, events without data included
    (OpenGPTs' `end` has none), data left unparsed."""
    event, data = None, []
    for raw in response.iter_lines():
        line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if line == "":
            if event is not None:
                yield event, "\n".join(data)
            event, data = None, []
        elif line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: ") or line == "data:":
            data.append(line[len("data: "):])
