"""Events that ride inside wake-ups (threads/streams.py _Tail): a follower takes them from the
messages only when it has every event up to the announced one, and otherwise reads the log.

Whatever happens to the messages (lost, too big to carry the event, reordered, duplicated), every
read returns exactly the next events of the log, identical to the rows, with no gap or repeat.
"""

import asyncio
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from threads import streams
from threads.models import RunEvent

RUN_ID = "6f1c2b8e-0000-4000-8000-000000000001"


def row(seq: int) -> RunEvent:
    event = RunEvent(seq=seq, type="assistant_delta", run_id=RUN_ID, message_id=None)
    event.data = {"text": f"token {seq}", "order": {"z": 1, "a": [seq, None, "é"]}}
    return event


class Log:
    """The database: committed rows, and how often followers had to read them."""

    def __init__(self):
        self.rows: list[RunEvent] = []
        self.reads = 0

    async def fetch(self, thread_id, after: int) -> list[dict]:
        self.reads += 1
        return [json.loads(json.dumps(r.as_dict())) for r in self.rows if r.seq > after][: streams.BATCH]


def wake_up(event: RunEvent, carries: bool) -> dict:
    return {"thread_id": "t", "seq": event.seq, "events": [event.wire()] if carries else []}


def run(coro):
    return asyncio.new_event_loop().run_until_complete(coro)


def test_a_follower_with_every_event_pushed_reads_the_log_once(monkeypatch):
    log, tail = Log(), streams._Tail()
    monkeypatch.setattr(streams, "fetch_events", log.fetch)
    received, after = [], 0
    for seq in range(1, 21):
        log.rows.append(row(seq))
        tail.note(wake_up(log.rows[-1], carries=True))
        events = run(tail.read("t", after))
        received += events
        after = events[-1]["seq"]
    assert received == [r.as_dict() for r in log.rows]
    assert log.reads == 0


def test_an_announced_event_that_did_not_come_along_is_read_from_the_log(monkeypatch):
    log, tail = Log(), streams._Tail()
    monkeypatch.setattr(streams, "fetch_events", log.fetch)
    monkeypatch.setattr(streams, "SHARED_READ_TTL", 0.0)  # polls come a second apart, not at once
    log.rows += [row(1), row(2), row(3)]
    tail.note(wake_up(log.rows[0], carries=True))
    tail.note(wake_up(log.rows[1], carries=False))  # too big to carry
    tail.note(wake_up(log.rows[2], carries=True))
    assert [e["seq"] for e in run(tail.read("t", 0))] == [1, 2, 3]
    assert log.reads == 1
    # A poll with nothing announced since reads the log: only it knows about lost publishes.
    log.rows.append(row(4))
    assert [e["seq"] for e in run(tail.read("t", 3))] == [4]
    assert log.reads == 2


@settings(max_examples=300, deadline=None)
@given(data=st.data(), count=st.integers(min_value=1, max_value=25))
def test_reads_always_return_the_next_events_of_the_log_exactly(data, count):
    log, tail = Log(), streams._Tail()
    original = streams.fetch_events, streams.SHARED_READ_TTL
    streams.fetch_events, streams.SHARED_READ_TTL = log.fetch, 0.0  # polls come a second apart
    try:
        pending: list[dict] = []  # published, not yet delivered
        received, after = [], 0

        def read_once():
            nonlocal after
            events = run(tail.read("t", after))
            expected = [r.as_dict() for r in log.rows if r.seq > after][: len(events)]
            assert events == expected, (after, events)
            received.extend(events)
            if events:
                after = events[-1]["seq"]

        for seq in range(1, count + 1):
            event = row(seq)
            log.rows.append(event)  # committed, then published
            fate = data.draw(st.sampled_from(["carries", "announces", "lost", "twice", "with the previous"]))
            if fate == "with the previous" and pending:  # one transaction's events, one message
                pending[-1]["events"].append(event.wire())
                pending[-1]["seq"] = seq
            elif fate != "lost":
                pending.append(wake_up(event, carries=fate != "announces"))
            if fate == "twice":
                pending.append(wake_up(event, carries=True))
            while pending and data.draw(st.booleans()):  # delivered in any order
                tail.note(pending.pop(data.draw(st.integers(0, len(pending) - 1))))
            if data.draw(st.booleans()):
                read_once()
        for message in pending:
            tail.note(message)
        read_once()  # woken by the last messages
        read_once()  # the poll that follows finds anything whose publish was lost
        assert received == [r.as_dict() for r in log.rows]
    finally:
        streams.fetch_events, streams.SHARED_READ_TTL = original
