"""Helpers for the async (streaming) views, which live outside DRF: auth, JSON bodies, SSE frames."""

import json

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from django.middleware.csrf import CsrfViewMiddleware

from config.auth import AuthenticationFailed, cached_principal, resolve_principal
from config.db import in_worker_thread
from config.errors import json_error
from config.identity import Principal


class HttpError(Exception):
    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra

    def response(self) -> JsonResponse:
        return json_error(self.detail, self.status, **self.extra)


def _csrf_failure(request) -> str | None:
    checker = CsrfViewMiddleware(lambda req: None)
    checker.process_request(request)
    result = checker.process_view(request, None, (), {})
    return None if result is None else "CSRF verification failed."


# On a pooled thread, not the request's own: a thread-sensitive call would start a thread per request.
_resolve_principal = in_worker_thread(resolve_principal)


async def authenticate(request) -> Principal:
    try:
        principal = cached_principal(request)
        if principal is not None:
            return principal  # an API key: no session, so no CSRF check either
        user = await request.auser()
        principal = await _resolve_principal(request, django_user=user)
    except AuthenticationFailed as exc:
        raise HttpError(401, str(exc)) from None
    if principal is None:
        raise HttpError(401, "Authentication required: send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key'.")
    if principal.source == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        failure = await sync_to_async(_csrf_failure)(request)
        if failure:
            raise HttpError(403, failure)
    return principal


def json_body(request, *, required: bool = True) -> dict:
    if not request.body:
        if required:
            raise HttpError(400, "Request body must be a JSON object.")
        return {}
    content_type = request.content_type or ""
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise HttpError(415, f'Unsupported media type "{content_type}" in request; send application/json.')
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"JSON parse error - {exc}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "Request body must be a JSON object.")
    return body


def sse_frame(event: str, data=None, *, event_id=None, newline: str = "\n") -> bytes:
    """One SSE frame; `data=None` sends the event with an empty data field (OpenGPTs' `end`)."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    if data is None:
        lines.append("data: ")
    else:
        payload = json.dumps(data, default=str)
        lines.extend(f"data: {line}" for line in payload.split("\n"))
    return (newline.join(lines) + newline + newline).encode()


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def last_event_id(request, default: int = 0) -> int:
    raw = request.headers.get("Last-Event-ID") or request.GET.get("after")
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, "after / Last-Event-ID must be an integer event seq.") from None
    if value < 0:
        raise HttpError(400, "after / Last-Event-ID must be >= 0.")
    return value
