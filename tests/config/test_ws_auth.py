"""Websocket handshakes: which browser origins may open a socket, and an open socket's credentials
checked again (config/ws_auth.py, threads/consumers.py)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.utils import timezone

from assistants.models import ApiKey
from config.ws_auth import BrowserOriginValidator, PrincipalMiddleware, SocketCredentials, origin_allowed
from threads.routing import websocket_urlpatterns


def handshake(host: str = "127.0.0.1:8000", scheme: str = "ws", **headers) -> dict:
    pairs = [(b"host", host.encode())] + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "websocket", "scheme": scheme, "path": "/ws/threads/", "headers": pairs, "query_string": b""}


@pytest.fixture(autouse=True)
def close_connections_of_the_async_thread():
    """Channels reads the database on asgiref's one thread for thread-sensitive work: close what it
    opened there, or the test database cannot be dropped at the end."""
    yield
    asyncio.run(sync_to_async(connections.close_all)())


@pytest.fixture(autouse=True)
def production_hosts(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "querent.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = []
    settings.SECURE_PROXY_SSL_HEADER = None


class TestOrigin:
    def test_the_same_origin_is_allowed(self):
        assert origin_allowed("http://127.0.0.1:8000", handshake())
        assert origin_allowed("http://[::1]:8000", handshake(host="[::1]:8000"))

    def test_another_port_of_the_same_host_is_refused(self):
        assert not origin_allowed("http://127.0.0.1:8001", handshake())
        assert not origin_allowed("http://127.0.0.1", handshake())

    def test_another_host_is_refused(self):
        assert not origin_allowed("http://localhost:8000", handshake())
        assert not origin_allowed("http://evil.example:8000", handshake())

    def test_default_ports_are_filled_in(self):
        assert origin_allowed("http://querent.example.com", handshake(host="querent.example.com:80"))
        assert origin_allowed("http://querent.example.com:80", handshake(host="querent.example.com"))
        assert origin_allowed("https://querent.example.com:443", handshake(host="querent.example.com", scheme="wss"))

    def test_another_scheme_is_refused(self):
        assert not origin_allowed("https://127.0.0.1:8000", handshake(scheme="ws"))
        assert not origin_allowed("http://querent.example.com", handshake(host="querent.example.com", scheme="wss"))
        assert origin_allowed("https://querent.example.com", handshake(host="querent.example.com", scheme="wss"))

    def test_a_tls_proxy_named_in_secure_proxy_ssl_header_makes_it_https(self, settings):
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        behind_proxy = handshake(host="querent.example.com", x_forwarded_proto="https")
        assert origin_allowed("https://querent.example.com", behind_proxy)
        assert not origin_allowed("http://querent.example.com", behind_proxy)

    def test_trusted_origins_extend_the_same_origin_exactly(self, settings):
        settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com", "http://127.0.0.1:3000", "https://*.tools.example.com"]
        assert origin_allowed("https://app.example.com", handshake())
        assert origin_allowed("http://127.0.0.1:3000", handshake())
        assert origin_allowed("https://a.tools.example.com", handshake())
        assert origin_allowed("https://tools.example.com", handshake())
        assert origin_allowed("http://127.0.0.1:8000", handshake())  # the same origin still is
        assert not origin_allowed("http://app.example.com", handshake())
        assert not origin_allowed("https://app.example.com:8443", handshake())
        assert not origin_allowed("http://127.0.0.1:3001", handshake())
        assert not origin_allowed("https://eviltools.example.com", handshake())

    def test_null_and_malformed_origins_are_refused(self):
        for origin in ["null", "", "file://", "http://127.0.0.1:notaport", "127.0.0.1:8000", "chrome-extension://abc"]:
            assert not origin_allowed(origin, handshake()), origin

    def test_a_host_this_server_does_not_answer_for_is_no_origin_of_its_own(self):
        # DNS rebinding: a page at evil.example:8000 resolved to this server talks to "itself".
        assert not origin_allowed("http://evil.example:8000", handshake(host="evil.example:8000"))

    def test_debug_and_any_host_change_nothing(self, settings):
        settings.DEBUG = True
        settings.ALLOWED_HOSTS = ["*"]
        assert origin_allowed("http://127.0.0.1:8000", handshake())
        assert not origin_allowed("http://127.0.0.1:8001", handshake())
        assert not origin_allowed("http://evil.example", handshake())
        assert not origin_allowed("null", handshake())


def validator_answer(scope: dict) -> bool:
    """Whether BrowserOriginValidator passes `scope` on (True) or refuses the handshake (False)."""

    async def accept(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})

    async def scenario():
        communicator = WebsocketCommunicator(BrowserOriginValidator(accept), scope["path"], headers=scope["headers"])
        communicator.scope["scheme"] = scope["scheme"]
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return connected

    return asyncio.run(scenario())


@pytest.mark.django_db  # a refusing consumer closes stale database connections first
class TestBrowserOriginValidator:
    def test_refuses_another_origin_and_passes_the_same_one(self):
        assert validator_answer(handshake(origin="http://127.0.0.1:8000"))
        assert not validator_answer(handshake(origin="http://127.0.0.1:8001"))
        assert not validator_answer(handshake(origin="null"))

    def test_a_handshake_without_origin_goes_on_to_authentication(self):
        assert validator_answer(handshake())


# --- an open socket's credentials ---------------------------------------------------------------

SOCKETS = PrincipalMiddleware(URLRouter(websocket_urlpatterns))


def open_socket(*, token: str | None = None, session: str | None = None) -> WebsocketCommunicator:
    headers = [(b"host", b"127.0.0.1:8000")]
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    path = "/ws/threads/" + (f"?token={token}" if token else "")
    return WebsocketCommunicator(SOCKETS, path, headers=headers)


async def still_answers(socket: WebsocketCommunicator) -> bool:
    """Send a harmless message: True when it is handled, False when refused for its credentials."""
    await socket.send_json_to({"type": "cancel"})
    reply = await socket.receive_json_from(timeout=10)
    if reply == {"type": "error", "message": "nothing to cancel"}:
        return True
    assert reply["type"] == "error" and reply["code"] == "credentials_revoked", reply
    assert (await socket.receive_output(timeout=10)) == {"type": "websocket.close", "code": 4401}
    return False


@pytest.mark.django_db(transaction=True)
class TestOpenSocketCredentials:
    @pytest.fixture(autouse=True)
    def check_every_message(self, settings):
        settings.API_KEY_CACHE_SECONDS = 0  # each message checks its credentials again
        settings.DEV_AUTH = False

    def test_an_api_key_revoked_elsewhere_refuses_the_next_message(self):
        key, token = ApiKey.issue(name="ws", tenant="acme", user_id="alice")

        async def scenario():
            socket = open_socket(token=token)
            assert (await socket.connect())[0]
            assert await still_answers(socket)
            await sync_to_async(ApiKey.objects.filter(pk=key.pk).update)(revoked_at=timezone.now())  # no signal: as another process
            assert not await still_answers(socket)

        asyncio.run(scenario())

    def test_a_session_logged_out_or_a_user_deactivated_refuses_the_next_message(self, django_user_model):
        user = django_user_model.objects.create_user("erin", password="pw-erin-123")

        async def answers_until(revoke) -> None:
            browser = Client()
            await sync_to_async(browser.force_login)(user)
            socket = open_socket(session=browser.cookies["sessionid"].value)
            assert (await socket.connect())[0]
            assert await still_answers(socket)
            await sync_to_async(revoke)(browser)
            assert not await still_answers(socket)

        def log_out(browser):
            browser.logout()

        def deactivate(browser):
            django_user_model.objects.filter(pk=user.pk).update(is_active=False)

        def change_password(browser):
            user.set_password("pw-erin-456")
            user.save()

        asyncio.run(answers_until(log_out))
        asyncio.run(answers_until(change_password))
        asyncio.run(answers_until(deactivate))

    def test_a_recheck_reads_the_key_afresh_not_from_the_process_cache(self, settings):
        settings.API_KEY_CACHE_SECONDS = 60
        key, token = ApiKey.issue(name="ws", tenant="acme", user_id="alice")
        scopes = []

        async def capture(scope, receive, send):
            scopes.append(scope)
            await send({"type": "websocket.close"})

        async def scenario():
            await WebsocketCommunicator(PrincipalMiddleware(capture), f"/ws/threads/?token={token}").connect()
            credentials = SocketCredentials(scopes[0])
            await sync_to_async(ApiKey.objects.filter(pk=key.pk).update)(revoked_at=timezone.now())
            assert await credentials.still_valid()  # checked moments ago: nothing is read
            assert not await credentials.still_valid(interval=0)  # this process's cache still holds the key
            assert not await credentials.still_valid()  # and a revoked socket stays revoked

        asyncio.run(scenario())
