"""The Redis broker transport reuses one client per channel for its synchronous commands."""

import threading
import uuid

import pytest
from django.conf import settings
from kombu import Connection

from config.celery import app
from config.redis_transport import Channel

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis")


def test_the_celery_app_publishes_through_this_transport():
    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, Channel)


def test_one_client_per_pool_and_a_new_one_for_a_new_pool():
    with Connection(settings.REDIS_URL) as connection:
        channel = connection.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        assert first.connection_pool is channel.pool
        channel._pool = None  # as after a reconnect
        second = channel._create_client()
        assert second is not first and second.connection_pool is channel.pool
        assert channel._create_client(asynchronous=True) is not second  # the event loop's clients are kombu's own


def test_messages_published_from_many_threads_at_once_all_arrive():
    name = f"querent-test-{uuid.uuid4().hex[:8]}"
    with Connection(settings.REDIS_URL) as connection:
        queue = connection.SimpleQueue(name)
        try:

            def publish(worker: int) -> None:
                with connection.clone() as own:  # kombu connections are per thread; the channel class is the same
                    sender = own.SimpleQueue(name)
                    for i in range(50):
                        sender.put({"worker": worker, "i": i})
                    sender.close()

            threads = [threading.Thread(target=publish, args=(w,)) for w in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            received = set()
            for _ in range(400):
                message = queue.get(timeout=5)
                received.add((message.payload["worker"], message.payload["i"]))
                message.ack()
            assert received == {(w, i) for w in range(8) for i in range(50)}
        finally:
            queue.clear()
            queue.close()
