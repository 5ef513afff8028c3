"""Wake-ups: what a committed transaction publishes, and the process hub that receives it from Redis."""

import asyncio
import json
import uuid

import pytest
from django.db import transaction

from config.db import in_worker_thread
from threads import bus, streams
from threads.events import append_event, emit, written_together
from threads.models import RunEvent


pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr(bus, "publish_thread_events", lambda thread_id, events: calls.append((thread_id, [e.seq for e in events])))
    return calls


def test_one_message_per_transaction_after_commit(thread, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic(), written_together():
            append_event(thread.id, None, "assistant_response_message", {"text": "hi"})
            append_event(thread.id, None, "finish", {})
            assert published == []  # nothing before the commit
    assert published == [(str(thread.id), [1, 2])]
    assert list(RunEvent.objects.filter(thread=thread).values_list("seq", "type")) == [(1, "assistant_response_message"), (2, "finish")]


def test_events_of_a_rolled_back_savepoint_are_not_published(thread, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            append_event(thread.id, None, "start", {})
            try:
                with transaction.atomic():
                    append_event(thread.id, None, "assistant_delta", {"text": "gone"})
                    raise RuntimeError
            except RuntimeError:
                pass
            append_event(thread.id, None, "finish", {})
    # seq 2 was rolled back and handed out again: only what committed goes out, each once (a new
    # batch after the savepoint, as the rolled-back batch went with it).
    assert published == [(str(thread.id), [1]), (str(thread.id), [2])]
    assert list(RunEvent.objects.filter(thread=thread).values_list("type", flat=True)) == ["start", "finish"]


def test_a_block_that_raises_writes_nothing(thread, published):
    with pytest.raises(ValueError), transaction.atomic(), written_together():
        append_event(thread.id, None, "finish", {})
        raise ValueError
    thread.refresh_from_db()
    assert thread.last_seq == 0 and not RunEvent.objects.filter(thread=thread).exists()


@pytest.mark.django_db(transaction=True)
def test_the_hub_delivers_what_is_published_right_after_joining(settings, thread):
    """join() returns once Redis confirmed the subscription: a publish right after it arrives."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    settings.CHANNEL_PREFIX = f"querent-test-{uuid.uuid4().hex[:8]}"

    async def scenario():
        hub = streams._Hub(settings.REDIS_URL, asyncio.get_running_loop())
        woken = await hub.join(str(thread.id))
        assert woken is not None
        # in_worker_thread gives the thread's pooled connection back when done (asyncio.to_thread would keep it).
        event = await in_worker_thread(emit)(thread.id, None, "assistant_delta", {"text": "tok"})
        await asyncio.wait_for(woken.wait(), 5)
        tail = hub.tails[str(thread.id)]
        assert tail.announced == event.seq
        assert tail.pushed[event.seq] == event.as_dict()
        await hub.leave(str(thread.id), woken)
        assert str(thread.id) not in hub.waiters
        hub.receiver.cancel()
        await hub.client.aclose()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_the_hub_comes_back_after_losing_its_redis_connection_with_followers_joined(settings, thread):
    """Redis drops the hub's connection while a stream follows a thread: the hub reconnects,
    subscribes again and delivers the next publish as a wake-up, not only through polling."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    import redis

    settings.CHANNEL_PREFIX = f"querent-test-{uuid.uuid4().hex[:8]}"
    admin = redis.Redis.from_url(settings.REDIS_URL)

    async def wait_until(condition, seconds=10.0):
        for _ in range(int(seconds / 0.05)):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("timed out")

    async def scenario():
        hub = streams._Hub(settings.REDIS_URL, asyncio.get_running_loop())
        woken = await hub.join(str(thread.id))
        ours = [c["id"] for c in admin.client_list() if c.get("name") == f"{settings.CHANNEL_PREFIX}-events"]
        assert len(ours) == 1
        admin.client_kill_filter(_id=ours[0])
        await wait_until(lambda: hub.reconnecting)
        await wait_until(lambda: not hub.reconnecting)
        assert woken.is_set()  # told to re-read the log after the gap
        woken.clear()
        event = await in_worker_thread(emit)(thread.id, None, "assistant_delta", {"text": "after"})
        await asyncio.wait_for(woken.wait(), 5)
        assert hub.tails[str(thread.id)].pushed[event.seq] == event.as_dict()
        await hub.leave(str(thread.id), woken)
        hub.receiver.cancel()
        await hub.client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        admin.close()


def test_wake_up_message_carries_small_events_only(thread):
    small = RunEvent(thread_id=thread.id, seq=1, type="assistant_delta", data={"text": "x"})
    big = RunEvent(thread_id=thread.id, seq=2, type="tool_response_message", data={"output": "y" * (bus.PUSHED_PAYLOAD_MAX + 1)})
    message = json.loads(bus.wake_up_message(thread.id, [small, big]))
    assert message["seq"] == 2 and [wire["seq"] for wire in message["events"]] == [1]
