"""Websocket authentication: the same credentials as HTTP, read from the handshake."""

from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import validate_host
from channels.db import database_sync_to_async

from .auth import AuthenticationFailed, resolve_principal


class _HandshakeRequest:
    """Just enough of an HttpRequest for resolve_principal."""

    def __init__(self, scope):
        self.META = {}
        for name, value in scope.get("headers", []):
            key = name.decode("latin1").upper().replace("-", "_")
            self.META["HTTP_" + key] = value.decode("latin1")
        query = parse_qs(scope.get("query_string", b"").decode())
        # Browsers cannot set headers on a websocket: accept the API key as ?token=.
        if "token" in query and "HTTP_AUTHORIZATION" not in self.META:
            self.META["HTTP_AUTHORIZATION"] = "Bearer " + query["token"][0]
        self.COOKIES = scope.get("cookies", {})


class _PrincipalResolver:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        try:
            scope["principal"] = await database_sync_to_async(resolve_principal)(
                _HandshakeRequest(scope), django_user=scope.get("user")
            )
            scope["auth_error"] = None
        except AuthenticationFailed as exc:
            scope["principal"] = None
            scope["auth_error"] = str(exc)
        return await self.inner(scope, receive, send)


def PrincipalMiddleware(inner):  # noqa: N802 - reads like the other channels middleware stacks
    return AuthMiddlewareStack(_PrincipalResolver(inner))


class BrowserOriginValidator:
    """Reject cross-site websocket handshakes from browsers (they carry the session cookie).

    A handshake without an Origin header comes from a program, not a page; it must still bring
    credentials of its own, so it is let through to authentication.
    """

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        origin = dict(scope.get("headers", [])).get(b"origin")
        if origin is not None:
            host = urlparse(origin.decode("latin1")).hostname or ""
            allowed = list(settings.ALLOWED_HOSTS) + [urlparse(o).hostname for o in settings.CSRF_TRUSTED_ORIGINS]
            if not validate_host(host, allowed):
                return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)
