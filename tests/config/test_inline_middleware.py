"""The middleware chain on the async path (as under daphne): the same answers as Django's stock
middleware, with no thread hop for a request whose hooks do no I/O."""

import asyncio

import pytest
from django.test import AsyncClient

from config.patches import django_middleware as inline_middleware


@pytest.fixture
def hops(monkeypatch):
    """Counts the hooks the middleware sends to a thread."""
    calls = []
    real = inline_middleware.sync_to_async

    def counting(func, *args, **kwargs):
        calls.append(getattr(func, "__qualname__", repr(func)))
        return real(func, *args, **kwargs)

    monkeypatch.setattr(inline_middleware, "sync_to_async", counting)
    return calls


def test_an_api_request_runs_every_hook_inline(hops):
    asyncio.run(_test_an_api_request_runs_every_hook_inline(hops))


async def _test_an_api_request_runs_every_hook_inline(hops):
    response = await AsyncClient().get("/no/such/path")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not found: /no/such/path"
    assert response["X-Frame-Options"] == "DENY"  # XFrameOptionsMiddleware
    assert response["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware
    assert hops == []


def test_static_files_are_served_off_the_loop(hops):
    asyncio.run(_test_static_files_are_served_off_the_loop(hops))


async def _test_static_files_are_served_off_the_loop(hops):
    response = await AsyncClient().get("/static/querent/app.css")
    assert response.status_code == 200
    assert "text/css" in response["Content-Type"]
    assert response.streaming and response.get("Content-Length") not in (None, "0")
    assert hops == ["WhiteNoiseMiddleware.serve"]  # the file is opened on a thread; nothing else hops


def test_hooks_that_may_write_still_go_to_a_thread(rf, settings):
    """Saving a changed session or storing messages touches the database: those hooks hop."""
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.session = SessionStore()
    sessions = inline_middleware.SessionMiddleware(lambda r: None)
    assert not sessions.response_hook_may_do_io(request, None)
    request.session["seen"] = True
    assert sessions.response_hook_may_do_io(request, None)
    settings.SESSION_SAVE_EVERY_REQUEST = True
    assert sessions.response_hook_may_do_io(rf.get("/"), None) is False  # no session at all: nothing to save

    messages = inline_middleware.MessageMiddleware(lambda r: None)
    request._messages = FallbackStorage(request)
    assert not messages.response_hook_may_do_io(request, None)
    request._messages.add(20, "saved")
    assert messages.response_hook_may_do_io(request, None)
