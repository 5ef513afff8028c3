"""The web launcher (config/web.py) and the daphne patches it uses (config/patches/daphne_limits.py),
in process: Twisted's real HTTPChannel drives the request class over an in-memory transport, so a
Twisted or daphne that calls the overridden methods differently fails here before it reaches a
server. The same behaviour over a real socket is in test_body_limits.py.
"""

import inspect
import json
import subprocess
import sys

import daphne.server
import pytest
from twisted.internet.testing import StringTransport

from config import web
from config.patches import daphne_limits
from config.patches.daphne_limits import BodyLimitHTTPFactory, LimitedServer, refusal

LIMIT = 10


class FakeServer:
    """What daphne's WebRequest needs of its Server, recording the applications it would start."""

    max_body_bytes = LIMIT
    proxy_forwarded_address_header = None
    root_path = ""
    request_buffer_size = 8192
    server_name = "daphne"
    http_timeout = None

    def __init__(self):
        self.started = []

    def protocol_connected(self, protocol):
        pass

    def protocol_disconnected(self, protocol):
        pass

    def create_application(self, protocol, scope):
        queue = []
        self.started.append((scope, queue))
        return _Queue(queue)


class _Queue:
    def __init__(self, items):
        self.items = items

    def put_nowait(self, item):
        self.items.append(item)


class HalfCloseTransport(StringTransport):
    write_closed = False

    def loseWriteConnection(self):  # noqa: N802 - Twisted's name
        self.write_closed = True


def connect():
    server = FakeServer()
    factory = BodyLimitHTTPFactory(server)
    protocol = factory.buildProtocol(None)
    transport = HalfCloseTransport()
    protocol.makeConnection(transport)
    return server, protocol, transport


def answer(transport) -> tuple[bytes, dict]:
    head, _, body = transport.value().partition(b"\r\n\r\n")
    return head, json.loads(body)  # exactly one JSON body: a second answer would fail to parse


@pytest.mark.parametrize("expect", [b"", b"Expect: 100-continue\r\n"], ids=["plain", "expect-100-continue"])
def test_declared_length_over_the_limit_is_refused_at_the_headers(expect):
    server, protocol, transport = connect()
    protocol.dataReceived(b"POST /threads HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n" + expect + b"\r\n")
    head, body = answer(transport)
    assert head.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in head
    assert body == {"detail": "Request body of 11 bytes exceeds the limit of 10 bytes.", "code": "request_too_large"}
    assert transport.producerState == "paused" and transport.write_closed and transport.producer is None
    # The whole body arriving anyway (in the same read, or before the close) starts nothing.
    protocol.dataReceived(b"x" * 11)
    assert server.started == [] and transport.value() == refusal(body["detail"])
    protocol.connectionLost(None)


def test_chunked_body_is_refused_when_it_passes_the_limit():
    server, protocol, transport = connect()
    protocol.dataReceived(b"POST /threads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\naaaaaa\r\n")
    assert transport.value() == b"" and transport.producerState == "producing"
    protocol.dataReceived(b"6\r\nbbbbbb\r\n6\r\ncccccc\r\n0\r\n\r\n")
    head, body = answer(transport)
    assert head.startswith(b"HTTP/1.1 413 ") and body["detail"] == "Request body exceeds the limit of 10 bytes."
    assert server.started == [] and transport.producerState == "paused" and transport.write_closed
    protocol.connectionLost(None)


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_body_within_the_limit_is_handed_to_daphne(framing):
    server, protocol, transport = connect()
    if framing == "length":
        protocol.dataReceived(b"POST /threads HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
    else:
        protocol.dataReceived(b"POST /threads HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n")
    assert transport.value() == b""
    [(scope, messages)] = server.started
    assert scope["method"] == "POST" and scope["path"] == "/threads"
    assert b"".join(m["body"] for m in messages) == b"0123456789"
    protocol.connectionLost(None)


def test_multipart_body_is_handed_to_daphne_without_twisted_parsing_it(monkeypatch):
    # Twisted would parse a multipart POST into request.args, in memory, before daphne reads the
    # body (hundreds of MB for a large file upload); the request class turns that parse off.
    import twisted.web.http

    parsed = []
    real = twisted.web.http._getMultiPartArgs
    monkeypatch.setattr(twisted.web.http, "_getMultiPartArgs", lambda *a: parsed.append(a) or real(*a))
    monkeypatch.setattr(FakeServer, "max_body_bytes", 1000)
    server, protocol, transport = connect()
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\nx,y\n1,2\n\r\n--b--\r\n"
    protocol.dataReceived(b"POST /api/v1/data-sources/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
    [(scope, messages)] = server.started
    assert b"".join(m["body"] for m in messages) == body
    assert parsed == []
    protocol.connectionLost(None)


def test_refused_connection_is_dropped_after_the_grace_and_the_timer_goes_with_it(monkeypatch):
    scheduled = []

    class Reactor:
        def callLater(self, delay, fn, *args):  # noqa: N802 - Twisted's name
            call = _Call(delay, fn)
            scheduled.append(call)
            return call

    monkeypatch.setattr(daphne_limits, "reactor", Reactor())
    _, protocol, transport = connect()
    protocol.dataReceived(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99\r\n\r\n")
    [call] = scheduled
    assert call.delay == daphne_limits.REFUSED_CLOSE_GRACE and call.fn == transport.abortConnection
    protocol.connectionLost(None)
    assert call.cancelled


class _Call:
    def __init__(self, delay, fn):
        self.delay, self.fn, self.cancelled = delay, fn, False

    def active(self):
        return not self.cancelled

    def cancel(self):
        self.cancelled = True


def test_daphne_builds_its_factories_where_the_server_patch_expects():
    """LimitedServer swaps daphne.server.HTTPFactory and configures Server.ws_factory in Server.run."""
    source = inspect.getsource(daphne.server.Server.run)
    assert "HTTPFactory(self)" in source and "self.ws_factory" in source and "ready_callable" in source
    assert daphne.server.HTTPFactory is not BodyLimitHTTPFactory  # restored after a run, never left behind


def test_server_refuses_a_non_positive_limit():
    with pytest.raises(ValueError):
        LimitedServer(application=None, endpoints=["tcp:port=0"], max_body_bytes=0)


def test_command_line_starts_the_limited_server_with_the_settings(settings, monkeypatch):
    settings.MAX_BODY_BYTES, settings.MAX_WS_MESSAGE_BYTES = 12345, 6789
    started = []
    monkeypatch.setattr(LimitedServer, "run", lambda self: started.append(self))
    monkeypatch.setattr(web.CommandLine, "load_asgi_app", lambda self, path: (lambda scope, receive, send: None))
    web.CommandLine().run(["-b", "127.0.0.1", "-p", "0", "--verbosity", "0", "config.asgi:application"])
    [server] = started
    assert isinstance(server, LimitedServer) and server.max_body_bytes == 12345
    assert server.websocket_max_message_size == 6789 and server.websocket_max_frame_size == 6789


@pytest.mark.parametrize("name", ["MAX_BODY_BYTES", "MAX_WS_MESSAGE_BYTES"])
def test_limits_must_be_positive(settings, name):
    from django.core.exceptions import ImproperlyConfigured

    setattr(settings, name, 0)
    with pytest.raises(ImproperlyConfigured):
        web.limits()


def test_argv_runs_the_launcher():
    assert web.argv("0.0.0.0", 8000) == [sys.executable, "-m", "config.web", "-b", "0.0.0.0", "-p", "8000", "config.asgi:application"]


def test_launcher_module_starts_and_lists_daphnes_options():
    result = subprocess.run([sys.executable, "-m", "config.web", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--websocket-max-message-size" in result.stdout


def test_serve_starts_the_web_process_through_the_launcher(monkeypatch):
    from django.core.management import call_command

    from threads.management.commands import serve

    class Started(Exception):
        pass

    launched, real_popen = [], subprocess.Popen

    def popen(argv, **kwargs):
        if "config.asgi:application" not in argv:
            return real_popen(argv, **kwargs)  # start-up checks of its own
        launched.append(argv)
        raise Started

    monkeypatch.setattr(serve.subprocess, "Popen", popen)
    monkeypatch.setattr(serve, "_port_free", lambda host, port: True)
    monkeypatch.setattr(serve.signal, "signal", lambda *args: None)
    with pytest.raises(Started):
        call_command("serve", "--host", "127.0.0.1", "--port", "8765")
    assert launched[0] == web.argv("127.0.0.1", 8765)


def test_stack_starts_the_web_process_through_the_launcher(tmp_path, monkeypatch):
    from tests.fixtures.stack import Stack

    stack = Stack(database_url="postgres://unused/x", redis_url="redis://unused/1", llm_base_url=None, log_dir=tmp_path)
    monkeypatch.setattr(stack, "_spawn", lambda name, argv: (name, argv))
    assert stack.start_web() == ("web", web.argv("127.0.0.1", stack.port))
