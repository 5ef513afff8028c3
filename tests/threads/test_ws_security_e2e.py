"""The websocket's trust boundary on real processes: a page on another origin cannot open a socket
with the browser's session cookie, and a socket whose API key is revoked stops working."""

import json
import time
import uuid

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from assistants.models import ApiKey
from tests.fixtures.stack import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NOTHING_TO_CANCEL = {"type": "error", "message": "nothing to cancel"}


def session_cookie(stack, django_user_model) -> str:
    """Log a new user in on the chat page's form, as a browser would; returns its session cookie."""
    username, password = f"erin-{uuid.uuid4().hex[:6]}", "pw-erin-123"
    django_user_model.objects.create_user(username, password=password)
    with httpx.Client(base_url=stack.base_url, timeout=10) as browser:
        browser.get("/accounts/login/")
        login = browser.post(
            "/accounts/login/", data={"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
        )
        assert login.status_code == 302, login.text
        return f"sessionid={browser.cookies['sessionid']}"


def test_a_page_on_another_port_cannot_open_a_socket_with_the_session_cookie(stack, django_user_model):
    cookie = {"Cookie": session_cookie(stack, django_user_model)}
    for other_origin in (f"http://127.0.0.1:{free_port()}", f"https://127.0.0.1:{stack.port}", f"http://localhost:{stack.port}"):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{stack.ws_url}/ws/threads/", origin=other_origin, additional_headers=cookie, open_timeout=10)
        assert refused.value.response.status_code == 403, other_origin
    with pytest.raises(InvalidStatus):  # a sandboxed page or a file; refused before or by the origin check
        connect(f"{stack.ws_url}/ws/threads/", origin="null", additional_headers=cookie, open_timeout=10)

    # The chat page's own origin may, and the socket acts as the logged-in user.
    with connect(f"{stack.ws_url}/ws/threads/", origin=stack.base_url, additional_headers=cookie, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "cancel"}))
        assert json.loads(ws.recv(timeout=10)) == NOTHING_TO_CANCEL


def frames_until_closed(ws, *, poke: bool, timeout: float = 60) -> tuple[list[dict], int]:
    """Every frame the server sends until it closes the socket, and the close code; with `poke`, a
    harmless message goes out after each reply, so the server sees traffic all along."""
    frames, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if poke:
                time.sleep(0.1)  # pacing, not a measurement
                try:
                    ws.send(json.dumps({"type": "cancel"}))
                except ConnectionClosed:
                    pass  # closed meanwhile: what the server sent before closing is still to be read
            frames.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
    except ConnectionClosed as closed:
        return frames, closed.rcvd.code if closed.rcvd else None
    raise AssertionError(f"the socket stayed open for {timeout}s: {frames[-5:]}")


@pytest.mark.parametrize("poke", [False, True], ids=["idle socket", "busy socket"])
def test_an_api_key_revoked_while_its_socket_is_open_ends_the_socket(stack, poke):
    key, token = ApiKey.issue(name="ws", tenant="acme", user_id=f"user-{uuid.uuid4().hex[:8]}")
    with connect(f"{stack.ws_url}/ws/threads/?token={token}", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "cancel"}))
        assert json.loads(ws.recv(timeout=10)) == NOTHING_TO_CANCEL
        # Revoked by another process: the web process still holds the key in its cache.
        ApiKey.objects.get(pk=key.pk).revoke()
        frames, code = frames_until_closed(ws, poke=poke)
    assert code == 4401
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "credentials_revoked", frames[-3:]
    assert all(frame == NOTHING_TO_CANCEL for frame in frames[:-1])
