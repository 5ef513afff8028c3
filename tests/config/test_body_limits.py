"""Request body and websocket message limits, enforced by the real web process while it reads.

A declared Content-Length over QUERENT_MAX_BODY_BYTES is refused with a JSON 413 before any of the
body is read; a chunked body is read only up to the limit, then refused without buffering the rest
(no temporary file growing with it); a websocket message or frame over QUERENT_MAX_WS_MESSAGE_BYTES
closes the connection with 1009. The web process is started the way `manage.py serve` and the
end-to-end Stack start it (config.web), on a web-only stack: no worker is needed.
"""

import json
import os
import select
import socket
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.fixtures.stack import Stack, stack_redis_url, test_database_url
from tests.support.principals import api_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

LIMIT = 256 * 1024
WS_LIMIT = 64 * 1024
CHUNK = 64 * 1024
CHUNKS = 1024  # 64 MB offered in all
SEND_BUDGET_SECONDS = 60
REPLY_TIMEOUT = 15


@pytest.fixture(scope="module")
def web(django_db_setup, tmp_path_factory):
    database_url = test_database_url()  # PostgreSQL or, in the embedded pass, the SQLite test file
    log_dir = tmp_path_factory.mktemp("body-limits")
    tmp_dir = log_dir / "tmp"
    tmp_dir.mkdir()
    stack = Stack(
        database_url=database_url, redis_url=stack_redis_url(11), llm_base_url=None, log_dir=log_dir,
        env={"QUERENT_MAX_BODY_BYTES": str(LIMIT), "QUERENT_MAX_WS_MESSAGE_BYTES": str(WS_LIMIT), "TMPDIR": str(tmp_dir)},
    )
    stack.tmp_dir = tmp_dir
    stack.start_web()
    try:
        stack.wait_ready(worker=False)
        yield stack
    finally:
        stack.stop()


def open_socket(stack: Stack, timeout: float = REPLY_TIMEOUT) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", stack.port), timeout=timeout)
    # A small send buffer: what the client "managed to send" is then close to what the server took.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 128 * 1024)
    return sock


def read_reply(sock: socket.socket, timeout: float = REPLY_TIMEOUT) -> bytes:
    """Everything the server sends until it ends the stream, or what arrived within `timeout`."""
    data, deadline = b"", time.monotonic() + timeout
    sock.settimeout(1)
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def parse_reply(data: bytes) -> tuple[int, dict, dict]:
    """Status, headers and JSON body of exactly one response (anything after it fails the parse)."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body)


def open_temp_file_sizes(pid: int, folder) -> list[int]:
    """Sizes of the files the server process holds open under `folder` (unlinked temporary files too)."""
    sizes = []
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{name}")
            if target.startswith(str(folder)):
                sizes.append(os.stat(f"{fd_dir}/{name}").st_size)
        except OSError:
            continue
    return sizes


def folder_size(folder) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.mark.parametrize("expect_continue", [False, True], ids=["plain", "expect-100-continue"])
def test_declared_length_over_the_limit_is_refused_before_the_body(web, expect_continue):
    sock = open_socket(web)
    try:
        request = (
            "POST /threads HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{web.port}\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 10737418240\r\n"
            + ("Expect: 100-continue\r\n" if expect_continue else "")
            + "\r\n"
        )
        sock.sendall(request.encode())  # the headers only: not one byte of the 10 GB follows
        reply = read_reply(sock)
    finally:
        sock.close()
    assert reply, f"no answer within {REPLY_TIMEOUT} s while the body was never sent\n{web.tail('web')}"
    assert not reply.startswith(b"HTTP/1.1 100"), "a refused body must not be invited with 100 Continue"
    status, headers, body = parse_reply(reply)
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert body["code"] == "request_too_large"
    assert f"limit of {LIMIT} bytes" in body["detail"] and "10737418240" in body["detail"]


def test_chunked_body_is_read_only_up_to_the_limit(web):
    before = folder_size(web.tmp_dir)
    sock = open_socket(web, timeout=2)
    sent, largest_temp_file, answered_early = 0, 0, False
    reply = b""
    try:
        sock.sendall(
            (
                "POST /threads HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{web.port}\r\n"
                "Content-Type: application/json\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        frame = f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n"
        deadline = time.monotonic() + SEND_BUDGET_SECONDS
        for number in range(CHUNKS):
            if time.monotonic() > deadline:
                break
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the server answered before the body was complete
                answered_early = True
                break
            if number % 8 == 0:
                largest_temp_file = max([largest_temp_file, *open_temp_file_sizes(web.web.pid, web.tmp_dir)])
            view = memoryview(frame)
            try:
                while view:
                    count = sock.send(view)
                    sent += count
                    view = view[count:]
            except socket.timeout:  # the server stopped reading
                break
            except (BrokenPipeError, ConnectionResetError):
                break
        largest_temp_file = max([largest_temp_file, *open_temp_file_sizes(web.web.pid, web.tmp_dir)])
        reply = read_reply(sock)
    finally:
        sock.close()
    total = CHUNKS * len(frame)
    assert sent < total // 4, f"the client sent {sent} of {total} bytes: the server kept reading past the limit"
    assert largest_temp_file <= 2 * LIMIT, f"a temporary file of the server grew to {largest_temp_file} bytes"
    assert folder_size(web.tmp_dir) - before <= 2 * LIMIT
    assert reply, f"no answer (answered early: {answered_early}, sent {sent})\n{web.tail('web')}"
    status, headers, body = parse_reply(reply)
    assert status == 413 and headers["connection"] == "close"
    assert body["code"] == "request_too_large" and f"limit of {LIMIT} bytes" in body["detail"]
    assert httpx.get(f"{web.base_url}/health?worker=0", timeout=10).status_code == 200  # the server is fine


def test_chunked_body_within_the_limit_reaches_the_application(web):
    """A chunked body under the limit is passed on: the unauthenticated POST gets the app's 401."""

    def body():
        for _ in range(3):
            yield b" " * (LIMIT // 4)
        yield b'{"message": "hello"}'

    response = httpx.post(f"{web.base_url}/threads", content=body(), headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 401, response.text
    response = httpx.post(f"{web.base_url}/threads", content=b" " * (LIMIT - 2) + b"{}", headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 401, response.text  # exactly at the limit is allowed
    response = httpx.post(f"{web.base_url}/threads", content=b" " * (LIMIT - 1) + b"{}", headers={"Content-Type": "application/json"}, timeout=30)
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


def ws_url(web, user) -> str:
    token = user["Authorization"].split(" ", 1)[1]
    return f"{web.ws_url}/ws/threads/?token={token}"


def test_websocket_message_over_the_limit_is_closed_with_1009(web):
    user = api_user()
    with connect(ws_url(web, user), open_timeout=10, max_size=None) as ws:
        ws.send(json.dumps({"type": "explode"}))  # a message under the limit is read and answered
        assert json.loads(ws.recv(timeout=10))["type"] == "error"
        ws.send(json.dumps({"type": "explode", "pad": "x" * (WS_LIMIT + 1024)}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_websocket_message_over_the_limit_in_small_frames_is_closed_with_1009(web):
    user = api_user()
    with connect(ws_url(web, user), open_timeout=10, max_size=None) as ws:
        fragment = "x" * (WS_LIMIT // 8)
        ws.send(iter([fragment] * 16))  # each frame is small; the message is twice the limit
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
