"""Wake-ups: what a committed transaction publishes, and the process hub that receives it from Redis."""

import asyncio
import json
import uuid

import pytest
from django.db import transaction

from config.db import in_worker_thread
from threads import bus, streams
from threads import hub as hub_module
from threads.store import store
from threads.models import RunEvent


pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch):
    calls = []
    monkeypatch.setattr(bus, "publish_thread_events", lambda thread_id, events: calls.append((thread_id, [e.seq for e in events])))
    return calls


@pytest.fixture
def own_channels(settings):
    """Real Redis pub/sub on channels of this test's own (skipped without Redis)."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    settings.CHANNEL_PREFIX = f"querent-test-{uuid.uuid4().hex[:8]}"
    # The safety-net poll (every EVENT_POLL_INTERVAL) would read the log on a busy machine where a
    # second passes between two writes; these tests are about the wake-ups alone.
    settings.EVENT_POLL_INTERVAL = 30.0
    return settings


def test_one_message_per_append_after_commit(thread, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            store.append_events(thread.id, [RunEvent(thread_id=thread.id, type="assistant_response_message", data={"text": "hi"}),
                                            RunEvent(thread_id=thread.id, type="finish", data={})])
            assert published == []  # nothing before the commit
    assert published == [(str(thread.id), [1, 2])]
    assert list(RunEvent.objects.filter(thread=thread).values_list("seq", "type")) == [(1, "assistant_response_message"), (2, "finish")]


def test_events_of_a_rolled_back_savepoint_are_not_published(thread, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            store.append_event(thread.id, None, "start", {})
            try:
                with transaction.atomic():
                    store.append_event(thread.id, None, "assistant_delta", {"text": "gone"})
                    raise RuntimeError
            except RuntimeError:
                pass
            store.append_event(thread.id, None, "finish", {})
    # seq 2 was rolled back and handed out again: only what committed goes out, each once (a new
    # batch after the savepoint, as the rolled-back batch went with it).
    assert published == [(str(thread.id), [1]), (str(thread.id), [2])]
    assert list(RunEvent.objects.filter(thread=thread).values_list("type", flat=True)) == ["start", "finish"]


def test_a_block_that_raises_writes_nothing(thread, published):
    with pytest.raises(ValueError), transaction.atomic():
        store.append_event(thread.id, None, "finish", {})
        raise ValueError
    thread.refresh_from_db()
    assert thread.last_seq == 0 and not RunEvent.objects.filter(thread=thread).exists()


async def assert_delivered(hub, thread, woken, text: str):
    """An event written now reaches the hub's tail for the thread and wakes `woken`."""
    # in_worker_thread gives the thread's pooled connection back when done (asyncio.to_thread would keep it).
    event = await in_worker_thread(store.emit)(thread.id, None, "assistant_delta", {"text": text})
    await asyncio.wait_for(woken.wait(), 5)
    assert hub.tails[str(thread.id)].pushed[event.seq] == event.as_dict()
    return event


async def close_hub(hub) -> None:
    hub.receiver.cancel()
    await hub.client.aclose()


@pytest.mark.django_db(transaction=True)
def test_the_hub_delivers_what_is_published_right_after_joining(settings, own_channels, thread):
    """join() returns once Redis confirmed the subscription: a publish right after it arrives."""

    async def scenario():
        hub = hub_module.Hub(settings.REDIS_URL, asyncio.get_running_loop(), streams._Tail)
        woken = await hub.join(str(thread.id))
        assert woken is not None
        event = await assert_delivered(hub, thread, woken, "tok")
        assert hub.tails[str(thread.id)].announced == event.seq
        await hub.leave(str(thread.id), woken)
        assert str(thread.id) not in hub.waiters
        await close_hub(hub)

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_leaving_unsubscribes_in_the_background_and_a_follower_joining_meanwhile_keeps_the_subscription(settings, own_channels, thread):
    import redis

    admin = redis.Redis.from_url(settings.REDIS_URL)
    channel = bus.thread_channel(str(thread.id))

    def subscribers() -> int:
        return dict(admin.pubsub_numsub(channel))[channel.encode()]

    async def scenario():
        hub = hub_module.Hub(settings.REDIS_URL, asyncio.get_running_loop(), streams._Tail)
        first = await hub.join(str(thread.id))
        await hub.leave(str(thread.id), first)  # returns before Redis confirmed the UNSUBSCRIBE
        second = await hub.join(str(thread.id))  # a new stream on the same thread, at once
        for _ in range(20):
            await asyncio.sleep(0.01)  # time for the background UNSUBSCRIBE, had it been sent
        assert subscribers() == 1
        await assert_delivered(hub, thread, second, "still here")
        await hub.leave(str(thread.id), second)
        for _ in range(200):
            if subscribers() == 0:
                break
            await asyncio.sleep(0.01)
        assert subscribers() == 0
        await close_hub(hub)

    try:
        asyncio.run(scenario())
    finally:
        admin.close()


@pytest.mark.django_db(transaction=True)
def test_the_hub_comes_back_after_losing_its_redis_connection_with_followers_joined(settings, own_channels, thread):
    """Redis drops the hub's connection while a stream follows a thread: the hub reconnects,
    subscribes again and delivers the next publish as a wake-up, not only through polling."""
    import redis

    admin = redis.Redis.from_url(settings.REDIS_URL)

    async def wait_until(condition, seconds=10.0):
        for _ in range(int(seconds / 0.05)):
            if condition():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("timed out")

    async def scenario():
        hub = hub_module.Hub(settings.REDIS_URL, asyncio.get_running_loop(), streams._Tail)
        woken = await hub.join(str(thread.id))
        ours = [c["id"] for c in admin.client_list() if c.get("name") == f"{settings.CHANNEL_PREFIX}-events"]
        assert len(ours) == 1
        admin.client_kill_filter(_id=ours[0])
        await wait_until(lambda: hub.reconnecting)
        await wait_until(lambda: not hub.reconnecting)
        assert woken.is_set()  # told to re-read the log after the gap
        woken.clear()
        await assert_delivered(hub, thread, woken, "after")
        await hub.leave(str(thread.id), woken)
        await close_hub(hub)

    try:
        asyncio.run(scenario())
    finally:
        admin.close()


def test_wake_up_message_carries_small_events_only(thread):
    small = RunEvent(thread_id=thread.id, seq=1, type="assistant_delta", data={"text": "x"})
    big = RunEvent(thread_id=thread.id, seq=2, type="tool_response_message", data={"output": "y" * (bus.PUSHED_PAYLOAD_MAX + 1)})
    message = json.loads(bus.wake_up_message(thread.id, [small, big]))
    assert message["seq"] == 2 and [wire["seq"] for wire in message["events"]] == [1]


def _close_hub_of_this_loop():
    async def close():
        hub = hub_module._hubs.pop(id(asyncio.get_running_loop()), None)
        if hub is not None and hub.receiver is not None:
            hub.receiver.cancel()
            await hub.client.aclose()
    return close()


@pytest.fixture
def counted_reads(monkeypatch):
    reads = []
    real = streams.fetch_events

    async def counting(thread_id, after):
        reads.append(after)
        return await real(thread_id, after)

    monkeypatch.setattr(streams, "fetch_events", counting)
    return reads


def follow_a_run(thread, run, write_after_start, *, batches: bool = False):
    """Subscribe, write the run's `start` and follow from it (as the views do) while
    `write_after_start()` runs on a worker thread. Returns what the stream got (events, or batches
    of them) and whether it left its subscription."""

    async def scenario():
        wakeups = await streams.subscribe(thread.id)
        start = await in_worker_thread(store.emit)(thread.id, run.id, "start", {"thread_id": str(thread.id)})
        follow = streams.follow_batches if batches else streams.follow
        got = []

        async def stream():
            async for item in follow(thread.id, 0, until_run=run.id, wakeups=wakeups, known=[start.as_dict()]):
                got.append(item)

        following = asyncio.get_running_loop().create_task(stream())
        await asyncio.sleep(0.05)
        await in_worker_thread(write_after_start)()
        await asyncio.wait_for(following, 5)
        left = str(thread.id) not in hub_module.hub_of_this_loop(streams._Tail).waiters
        await _close_hub_of_this_loop()
        return got, left

    return asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_stream_subscribed_before_the_write_follows_without_reading_the_log(own_channels, thread, counted_reads):
    """What the caller wrote after subscribe() is passed as `known`; the rest arrives announced."""
    from threads.models import Run

    run = Run.objects.create(thread=thread)

    def delta_then_finish():
        store.emit(thread.id, run.id, "assistant_delta", {"text": "tok"})
        store.emit(thread.id, run.id, "finish", {})

    seen, left = follow_a_run(thread, run, delta_then_finish)
    assert [(event["seq"], event["type"]) for event in seen] == [(1, "start"), (2, "assistant_delta"), (3, "finish")]
    assert left  # the stream left its subscription
    assert counted_reads == []  # every event came from the caller or inside a wake-up


@pytest.mark.django_db(transaction=True)
def test_known_events_that_do_not_continue_the_log_send_the_stream_to_it(own_channels, thread, counted_reads):
    first = store.emit(thread.id, None, "assistant_delta", {"text": "written before anyone subscribed"})
    second = store.emit(thread.id, None, "assistant_delta", {"text": "the caller's"})

    async def scenario():
        wakeups = await streams.subscribe(thread.id)
        seen = [event["seq"] async for event in streams.follow(thread.id, 0, wakeups=wakeups, known=[second.as_dict()])]
        assert seen == [first.seq, second.seq]  # from the log: the known event was not next after 0
        await _close_hub_of_this_loop()

    asyncio.run(scenario())
    assert counted_reads == [0]


@pytest.mark.django_db(transaction=True)
def test_a_subscription_no_stream_follows_is_left(own_channels, thread, monkeypatch):
    """The client left before its response began: the hub does not keep the thread subscribed."""
    monkeypatch.setattr(streams, "ADOPT_WITHIN", 0.05)

    async def scenario():
        adopted = await streams.subscribe(thread.id)
        abandoned = await streams.subscribe(thread.id)
        hub = hub_module.hub_of_this_loop(streams._Tail)
        assert len(hub.waiters[str(thread.id)]) == 2
        async with adopted:  # a stream took this one over before the deadline
            await asyncio.sleep(0.3)
            assert hub.waiters[str(thread.id)] == {adopted.event}
        assert str(thread.id) not in hub.waiters
        await _close_hub_of_this_loop()

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_events_committed_together_are_followed_as_one_batch(own_channels, thread):
    """A run's answer and `finish` commit together: a stream gets them as one batch (one write)."""
    from threads.models import Run

    run = Run.objects.create(thread=thread)

    def answer_and_finish():
        with transaction.atomic():
            store.append_events(thread.id, [RunEvent(thread_id=thread.id, run_id=run.id, type="assistant_response_message", data={"text": "347"}),
                                            RunEvent(thread_id=thread.id, run_id=run.id, type="finish", data={})])

    batches, _ = follow_a_run(thread, run, answer_and_finish, batches=True)
    assert [[event["type"] for event in batch] for batch in batches] == [["start"], ["assistant_response_message", "finish"]]
