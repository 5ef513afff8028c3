"""Websocket authentication: the same credentials as HTTP, read from the handshake."""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
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
