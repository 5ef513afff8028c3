"""The base of the async endpoints (the streaming ones: DRF has no async views).

It gives them what APIView gives the others: the principal, the JSON body, and errors answered
exactly as DRF views answer them (config.errors.exception_handler), so a refusal has one status
and one shape whichever kind of view refused. Views raise DRF's exceptions, Http404 or the
domain's Conflict; anything else is a logged 500.
"""

import json

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from config.auth import AuthenticationFailed, cached_principal, resolve_principal
from config.db import in_worker_thread
from config.errors import exception_handler
from config.identity import Principal

# On a pooled thread, not the request's own: a thread-sensitive call would start a thread per request.
_resolve_principal = in_worker_thread(resolve_principal)


def error_response(request, exc: Exception) -> JsonResponse:
    response = exception_handler(exc, {"request": request})
    headers = {name: value for name, value in response.items() if name in ("Allow", "Retry-After", "WWW-Authenticate")}
    return JsonResponse(response.data, status=response.status_code, headers=headers)


def _csrf_refusal(request) -> str | None:
    checker = CsrfViewMiddleware(lambda req: None)
    checker.process_request(request)
    return None if checker.process_view(request, None, (), {}) is None else "CSRF verification failed."


async def authenticate(request) -> Principal:
    """The request's principal (API key, JWT, session, development user); 401 or 403 otherwise.
    A session is CSRF-checked on unsafe methods here: async views are csrf_exempt for API keys."""
    try:
        principal = cached_principal(request)
        if principal is not None:
            return principal  # an API key: no session, so no CSRF check either
        principal = await _resolve_principal(request, django_user=await request.auser())
    except AuthenticationFailed as exc:
        raise exceptions.NotAuthenticated(str(exc)) from None
    if principal is None:
        raise exceptions.NotAuthenticated("Authentication required: send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key'.")
    if principal.source == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        refusal = await sync_to_async(_csrf_refusal)(request)
        if refusal:
            raise exceptions.PermissionDenied(refusal)
    return principal


def json_body(request) -> dict:
    """The request's JSON object (400 or 415 otherwise)."""
    content_type = request.content_type or ""
    if request.body and content_type != "application/json" and not content_type.endswith("+json"):
        raise exceptions.UnsupportedMediaType(content_type, f'Unsupported media type "{content_type}" in request; send application/json.')
    try:
        body = json.loads(request.body) if request.body else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise exceptions.ParseError(f"JSON parse error - {exc}", code="bad_request") from None
    if not isinstance(body, dict):
        raise exceptions.ParseError("Request body must be a JSON object.", code="bad_request")
    return body


class AsyncApiView(View):
    """Subclasses define async get/post/...; errors they raise are answered as JSON."""

    @classmethod
    def as_view(cls, **initkwargs):
        # As APIView: API keys need no CSRF token; a session is checked in authenticate().
        return csrf_exempt(super().as_view(**initkwargs))

    async def dispatch(self, request, *args, **kwargs):
        try:
            return await super().dispatch(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every failure gets the API's error shape
            return error_response(request, exc)

    def http_method_not_allowed(self, request, *args, **kwargs):
        # The methods this view serves, as the routes had them listed (HEAD and OPTIONS go without saying).
        allowed = ", ".join(m.upper() for m in self.http_method_names if hasattr(self, m) and m not in ("head", "options"))
        raise exceptions.MethodNotAllowed(request.method, f"Method {request.method} not allowed; allowed: {allowed}")
