"""The ASGI handler lends each request a pooled thread for its thread-sensitive work instead of
starting one (and a second to join it) per request."""

import asyncio
import threading
import time

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection, reset_queries

from config.patches.django_asgi import PooledThreadASGIHandler, without_request_started_hop


async def call(handler, path: str, headers=(), sender=None) -> tuple[int, bytes]:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    received = asyncio.Event()
    sent = []

    async def receive():
        if not received.is_set():
            received.set()
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected

    async def send(message):
        sent.append(message)

    await handler(scope, receive, send if sender is None else sender(sent))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.fixture
def request_threads():
    """Names of the threads each request's request_started signal ran on."""

    class Names(list):
        def record(self, **kwargs):
            self.append(threading.current_thread().name)

    names = Names()
    request_started.connect(names.record, weak=False)
    yield names
    request_started.disconnect(names.record)


def test_requests_one_after_another_reuse_one_thread(request_threads):
    handler = PooledThreadASGIHandler()

    async def scenario():
        for _ in range(5):
            assert (await call(handler, "/ok"))[0] == 200
        before = threading.active_count()
        for _ in range(20):
            assert (await call(handler, "/ok"))[0] == 200
        return before, threading.active_count()

    before, after = asyncio.run(scenario())
    assert len(set(request_threads)) == 1
    assert request_threads[0].startswith("request")
    assert after == before  # no thread started (or left behind) per request
    assert len(handler.executors._idle) == 1


def test_requests_at_the_same_time_each_get_a_thread_and_extra_idle_ones_are_shut(request_threads):
    handler = PooledThreadASGIHandler(keep_idle_threads=1)
    given_back = []
    give_back = handler.executors.give_back
    handler.executors.give_back = lambda executor: (given_back.append(executor), give_back(executor))

    def slow(**kwargs):
        time.sleep(0.05)  # holds the request's thread while the other request starts

    request_finished.connect(slow, weak=False)
    try:

        async def scenario():
            return await asyncio.gather(call(handler, "/ok"), call(handler, "/ok"))

        results = asyncio.run(scenario())
    finally:
        request_finished.disconnect(slow)
    assert [status for status, _ in results] == [200, 200]
    assert len(set(request_threads)) == 2
    (kept,) = handler.executors._idle
    assert not kept._shutdown
    assert [executor._shutdown for executor in given_back if executor is not kept] == [True]


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_opened_by_a_request_is_given_back_at_its_end():
    handler = PooledThreadASGIHandler()

    async def scenario():
        # A sync DRF view: its key lookup opens a database connection on the request's thread.
        return await call(handler, "/api/v1/me", headers=[(b"authorization", b"Bearer qk_not_a_real_key")])

    status, body = asyncio.run(scenario())
    assert status == 401, body
    (executor,) = handler.executors._idle
    assert executor.submit(lambda: connection.connection).result(timeout=5) is None


@pytest.fixture
def no_request_started_hop(settings):
    settings.DEBUG = False
    without_request_started_hop()
    yield
    request_started.connect(close_old_connections)
    request_started.connect(reset_queries)


def test_without_its_receivers_request_started_costs_no_thread_hop(no_request_started_hop, request_threads):
    """Signal.asend() hops to a thread only for sync receivers: with none left, none is taken."""
    request_started.disconnect(request_threads.record)  # the fixture's own recorder, itself a sync receiver
    sync_receivers, async_receivers = request_started._live_receivers(None)
    assert sync_receivers == [] and async_receivers == []
    handler = PooledThreadASGIHandler()
    assert asyncio.run(call(handler, "/ok"))[0] == 200


def test_under_debug_request_started_keeps_its_receivers(settings, no_request_started_hop):
    request_started.connect(close_old_connections)
    request_started.connect(reset_queries)
    settings.DEBUG = True
    without_request_started_hop()
    live = request_started._live_receivers(None)[0]
    assert close_old_connections in live and reset_queries in live


@pytest.mark.django_db(transaction=True)
def test_a_request_that_ends_before_request_finished_leaves_no_connection_on_its_thread(no_request_started_hop):
    handler = PooledThreadASGIHandler()
    finished = []

    def record_finished(**kwargs):
        finished.append(kwargs)

    request_finished.connect(record_finished, weak=False)

    def client_gone(sent):
        async def send(message):
            raise OSError("the client went away")  # as the response starts: response.close() never runs
        return send

    async def scenario():
        # A sync DRF view: its key lookup opens a database connection on the request's thread.
        await call(handler, "/api/v1/me", headers=[(b"authorization", b"Bearer qk_not_a_real_key")], sender=client_gone)

    try:
        with pytest.raises(OSError):
            asyncio.run(scenario())
    finally:
        request_finished.disconnect(record_finished)
    assert finished == []
    (executor,) = handler.executors._idle
    assert executor.submit(lambda: connection.connection).result(timeout=5) is None
