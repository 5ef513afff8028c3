"""Authentication: API keys, JWT bearer tokens, Django sessions and (development only) a cookie.

`resolve_principal` is the single entry point; the DRF authentication class, the async SSE views
and the websocket middleware all call it, so every surface accepts exactly the same credentials.
"""

import hashlib
import json
import logging
import threading
import time
import urllib.request
from functools import lru_cache

import jwt
from django.conf import settings
from rest_framework import authentication, exceptions, permissions

from .identity import Principal

log = logging.getLogger(__name__)


class AuthenticationFailed(Exception):
    """Credentials were presented and are wrong: a 401, never a fall-through to anonymous."""


@lru_cache(maxsize=4)
def _jwks_client(url: str, cooldown: float) -> "jwt.PyJWKClient":
    # An unknown `kid` refetches the set at most once per `cooldown` seconds, so tokens with made-up
    # kids cannot turn each request into a call to the provider.
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5, cooldown_duration=cooldown)


@lru_cache(maxsize=4)
def _discovered_jwks_url(issuer: str) -> str:
    """The provider's `jwks_uri`, read once per process (a failed read is not cached)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            document = json.load(response)
    except (OSError, ValueError) as exc:
        log.warning("OIDC discovery at %s failed: %s", url, exc)
        raise AuthenticationFailed("the OIDC provider's configuration could not be read") from None
    if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
        raise AuthenticationFailed("the OIDC provider's configuration has no jwks_uri")
    # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer it was asked for.
    if str(document.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        log.warning("OIDC discovery at %s names another issuer: %r", url, document.get("issuer"))
        raise AuthenticationFailed("the OIDC provider's configuration names another issuer")
    return document["jwks_uri"]


def _verification_key(token: str):
    """The shared secret, or the public key the token's `kid` names in the JWKS (fetched again when an
    unknown `kid` shows up, so a provider's key rotation needs no restart)."""
    if settings.JWT_JWKS_URL:
        jwks_url = settings.JWT_JWKS_URL
    elif settings.JWT_SECRET:
        return settings.JWT_SECRET
    else:
        jwks_url = _discovered_jwks_url(settings.JWT_ISSUER)
    try:
        return _jwks_client(jwks_url, settings.JWT_JWKS_COOLDOWN).get_signing_key_from_jwt(token).key
    except jwt.PyJWKClientConnectionError as exc:
        log.warning("fetching the JWKS at %s failed: %s", jwks_url, exc)
        raise AuthenticationFailed("the token's signing keys could not be fetched") from None


def _looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("qk_")


def principal_from_jwt(token: str) -> Principal:
    if not (settings.JWT_SECRET or settings.JWT_JWKS_URL or settings.JWT_ISSUER):
        raise AuthenticationFailed("JWT authentication is not configured")
    options = {"require": ["sub", "exp"]}
    kwargs = {"algorithms": settings.JWT_ALGORITHMS, "options": options}
    if settings.JWT_AUDIENCE:
        kwargs["audience"] = settings.JWT_AUDIENCE
    else:
        options["verify_aud"] = False
    if settings.JWT_ISSUER:
        kwargs["issuer"] = settings.JWT_ISSUER
    try:
        claims = jwt.decode(token, _verification_key(token), **kwargs)
    except jwt.ExpiredSignatureError:
        raise AuthenticationFailed("token expired") from None
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed(f"invalid token: {exc}") from None
    tenant = claims.get(settings.JWT_TENANT_CLAIM) or settings.DEFAULT_TENANT
    return Principal(tenant=str(tenant), user_id=str(claims["sub"]), source="jwt", is_tenant_admin=_admin_claim(claims))


TENANT_ADMIN_ROLE = "admin"


def _admin_claim(claims: dict) -> bool:
    """The role claim says "admin", or is a list holding "admin" (as Keycloak-style role lists do)."""
    role = claims.get(settings.JWT_ROLE_CLAIM)
    if isinstance(role, str):
        return role == TENANT_ADMIN_ROLE
    return isinstance(role, list) and TENANT_ADMIN_ROLE in role


# API keys resolved recently, by a hash of the presented token (never the token itself): a busy
# client's key is looked up once per QUERENT_API_KEY_CACHE_SECONDS per process, and async views
# resolve it without a thread. Revoking or deleting any key empties this process's cache at once
# (forget_api_keys); other processes stop accepting a revoked key within those seconds.
_key_cache: dict[str, tuple[float, Principal]] = {}
_key_cache_lock = threading.Lock()
KEY_CACHE_MAX = 10_000


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _cached_key(token: str) -> Principal | None:
    hit = _key_cache.get(_token_digest(token))
    return hit[1] if hit is not None and hit[0] > time.monotonic() else None


def forget_api_keys() -> None:
    with _key_cache_lock:
        _key_cache.clear()


def forget_presented_api_key(request) -> None:
    """Drop the cached lookup of the API key `request` carries, if any, so resolving it next reads the
    database: an open websocket's re-check must see a key revoked in another process."""
    try:
        presented = _presented_token(request)
    except AuthenticationFailed:
        return
    if presented is not None:
        with _key_cache_lock:
            _key_cache.pop(_token_digest(presented[0]), None)


def principal_from_api_key(token: str) -> Principal:
    from assistants.models import ApiKey  # the model lives in an app; config loads first

    cached = _cached_key(token)
    if cached is not None:
        return cached
    key = ApiKey.authenticate(token)
    if key is None:
        raise AuthenticationFailed("invalid or revoked API key")
    principal = key.principal()
    if settings.API_KEY_CACHE_SECONDS > 0:
        with _key_cache_lock:
            if len(_key_cache) >= KEY_CACHE_MAX:
                _key_cache.clear()
            _key_cache[_token_digest(token)] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, principal)
    return principal


def _header(request, name: str) -> str | None:
    return request.META.get("HTTP_" + name.upper().replace("-", "_"))


def resolve_principal(request, *, django_user=None) -> Principal | None:
    """The principal behind a request, None when anonymous, AuthenticationFailed on bad credentials.

    Works for Django and DRF requests. `X-Tenant-ID` selects the tenant when the principal may act
    for it (a service key, or development auth); otherwise a different tenant is refused.
    """
    principal = None
    presented = _presented_token(request)
    if presented is not None:
        token, bearer = presented
        principal = principal_from_jwt(token) if bearer and _looks_like_jwt(token) else principal_from_api_key(token)
    else:
        user = django_user if django_user is not None else getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False) and not isinstance(user, Principal):
            # Staff (who may use the Django admin) are the default tenant's admins.
            principal = Principal(
                tenant=settings.DEFAULT_TENANT, user_id=user.get_username(), source="session",
                is_tenant_admin=bool(getattr(user, "is_staff", False)),
            )
        elif settings.DEV_AUTH:
            cookie_user = request.COOKIES.get("opengpts_user_id")
            principal = Principal(
                tenant=settings.DEFAULT_TENANT,
                user_id=cookie_user or settings.DEV_DEFAULT_USER,
                source="dev",
                can_act_for_any_tenant=True,
                is_tenant_admin=True,  # development auth trusts the caller entirely
            )
    if principal is None:
        return None
    return _acting_for_requested_tenant(request, principal)


def _presented_token(request) -> tuple[str, bool] | None:
    """(token, came as `Authorization: Bearer`) from that header or `X-API-Key`; None with neither.
    AuthenticationFailed for an Authorization header of another form."""
    authorization = _header(request, "Authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationFailed("Authorization must be 'Bearer <token>'")
        return token, True
    api_key = _header(request, "X-API-Key")
    return (api_key.strip(), False) if api_key else None


def _acting_for_requested_tenant(request, principal: Principal) -> Principal:
    tenant = _header(request, "X-Tenant-ID")
    if tenant:
        try:
            principal = principal.acting_for(tenant.strip())
        except PermissionError as exc:
            raise AuthenticationFailed(str(exc)) from None
    return principal


def cached_principal(request) -> Principal | None:
    """resolve_principal() for a request carrying an API key resolved moments ago, with no I/O
    (an async view needs no thread for it); None when the full resolve_principal is needed."""
    try:
        presented = _presented_token(request)
    except AuthenticationFailed:
        return None  # resolve_principal says what is wrong
    if presented is None or (presented[1] and _looks_like_jwt(presented[0])):
        return None
    principal = _cached_key(presented[0])
    return _acting_for_requested_tenant(request, principal) if principal is not None else None


class QuerentAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        try:
            principal = resolve_principal(request, django_user=getattr(request._request, "user", None))
        except AuthenticationFailed as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        if principal is None:
            return None
        if principal.source == "session":
            # A browser's session cookie rides along on cross-site requests: demand the CSRF token.
            authentication.SessionAuthentication().enforce_csrf(request)
        return principal, principal.source

    def authenticate_header(self, request):
        return 'Bearer realm="querent"'


class HasPrincipal(permissions.BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key'."

    def has_permission(self, request, view):
        return isinstance(request.user, Principal)
