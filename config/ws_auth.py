"""Websocket authentication: the same credentials as HTTP, read from the handshake, and checked again
while the socket stays open."""

import asyncio
import time
from importlib import import_module
from urllib.parse import parse_qs, urlsplit

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare

from .auth import AuthenticationFailed, forget_presented_api_key, resolve_principal
from .db import in_worker_thread


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


# --- Origin -------------------------------------------------------------------------------------

_HTTP_SCHEMES = {"http": "http", "https": "https", "ws": "http", "wss": "https"}
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, ws/wss read as http/https and the port filled in; None for
    anything that is not an origin (`null`, no host, a bad port)."""
    try:
        parts = urlsplit(url)
        scheme, port = _HTTP_SCHEMES.get(parts.scheme.lower()), parts.port
    except ValueError:
        return None
    if scheme is None or not parts.hostname:
        return None
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def _handshake_scheme(scope) -> str:
    """The scheme the socket came in on; behind a TLS-terminating proxy named by SECURE_PROXY_SSL_HEADER,
    what that header says, as Django's request.is_secure() reads it (daphne itself says ws)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = _HandshakeRequest(scope).META.get(header)
        if value is not None:
            return "wss" if value.split(",", 1)[0].strip() == secure_value else "ws"
    return scope.get("scheme", "ws")


def _handshake_origin(scope) -> tuple[str, str, int] | None:
    """The origin the handshake was addressed to: its Host header with the scheme the socket came in
    on, when that host is one this server answers for (as Django's HTTP side requires)."""
    host = dict(scope.get("headers", [])).get(b"host", b"").decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return _origin_of(f"{_handshake_scheme(scope)}://{host}")


def _trusted(origin: tuple[str, str, int], pattern: str) -> bool:
    """`origin` matches a CSRF_TRUSTED_ORIGINS entry: the same scheme and port, the same host or, for
    an entry written `https://*.example.com` (as Django's CSRF check reads it), a subdomain."""
    trusted = _origin_of(pattern)
    if trusted is None or trusted[0] != origin[0] or trusted[2] != origin[2]:
        return False
    host, wanted = origin[1], trusted[1]
    if wanted.startswith("*."):
        return host.endswith(wanted[1:]) or host == wanted[2:]
    return host == wanted


def origin_allowed(origin: str, scope) -> bool:
    """A browser's Origin is allowed when it is exactly (scheme, host, port) the origin the socket was
    addressed to, or one listed in CSRF_TRUSTED_ORIGINS. DEBUG changes nothing here."""
    parsed = _origin_of(origin)
    if parsed is None:
        return False
    return parsed == _handshake_origin(scope) or any(_trusted(parsed, pattern) for pattern in settings.CSRF_TRUSTED_ORIGINS)


class BrowserOriginValidator:
    """Refuse (403) cross-origin websocket handshakes from browsers: a page on another origin, even
    another port of the same host, would otherwise act with the session cookie the browser sends.

    A handshake without an Origin header comes from a program, not a page; it must still bring
    credentials of its own, so it is let through to authentication.
    """

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        origin = dict(scope.get("headers", [])).get(b"origin")
        if origin is not None and not origin_allowed(origin.decode("latin1"), scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.inner(scope, receive, send)


# --- Credentials of an open socket ---------------------------------------------------------------


# An idle socket is re-checked at most this often, even with a cache time of 0 ("look it up on every
# request"), which applies to each message but would turn an idle socket into a busy loop.
MIN_IDLE_CHECK_SECONDS = 1.0


class SocketCredentials:
    """The credentials a websocket was opened with, checked again while it stays open.

    A socket outlives the handshake that authenticated it, so an API key revoked, a session logged
    out or expired, or a user deactivated must stop it too. A check reads the credentials afresh
    (the API key from the database, not this process's cache, so a revocation made anywhere shows
    within one interval) and happens when the last one is older than API_KEY_CACHE_SECONDS, the time
    HTTP requests in another process may still accept a revoked key: messages in between cost nothing.
    """

    def __init__(self, scope):
        self.principal = scope["principal"]
        self._request = _HandshakeRequest(scope)
        self._checked_at = time.monotonic()
        self._revoked = False

    def _due_in(self, interval: float) -> float:
        return self._checked_at + interval - time.monotonic()

    async def still_valid(self, interval: float | None = None) -> bool:
        """False once the credentials no longer give the same principal; checks only when the last
        check is older than `interval` (default: the API key cache time)."""
        interval = settings.API_KEY_CACHE_SECONDS if interval is None else interval
        if self._revoked or self._due_in(interval) > 0:
            return not self._revoked
        started = time.monotonic()
        valid = await self._check()
        self._revoked = self._revoked or not valid  # once revoked, stays revoked
        self._checked_at = started
        return not self._revoked

    async def until_revoked(self) -> None:
        """Returns when a check finds the credentials revoked, checking an idle socket as often as
        a busy one (but at least MIN_IDLE_CHECK_SECONDS apart): it still receives the thread's events."""
        interval = max(settings.API_KEY_CACHE_SECONDS, MIN_IDLE_CHECK_SECONDS)
        while True:
            await asyncio.sleep(max(self._due_in(interval), 0))
            if not await self.still_valid(interval):
                return

    @in_worker_thread
    def _check(self) -> bool:
        user = None
        if self.principal.source == "session":
            user = _session_user(self._request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        elif self.principal.source == "api_key":
            forget_presented_api_key(self._request)
        try:
            return resolve_principal(self._request, django_user=user) == self.principal
        except AuthenticationFailed:
            return False


def _session_user(session_key: str | None):
    """The active user a session still belongs to, or None (logged out, expired, user deactivated or
    password changed). Reads only: unlike django.contrib.auth.get_user it never flushes or re-keys
    the session, which would log the browser out from under its cookie."""
    if not session_key:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    try:
        user_pk = get_user_model()._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except KeyError:
        return None
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(user_pk)  # None for an inactive user (ModelBackend)
    if user is None:
        return None
    session_hash = session.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return user if any(constant_time_compare(session_hash, expected) for expected in hashes) else None
