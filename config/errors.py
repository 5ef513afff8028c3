"""One JSON error shape for every API failure: {"detail": ..., "code": ...[, "errors": {...}]}."""

import logging

from django.core.exceptions import PermissionDenied, ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from executor.errors import TooManyConnectionTests

log = logging.getLogger(__name__)


class Conflict(Exception):
    """The request is valid but the object's state does not allow it (a run already in progress,
    a confirmation already decided): 409 in every dialect."""


class _ConflictResponse(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def first_error(errors) -> str:
    """'field: message' for the first problem in a DRF error structure."""
    if isinstance(errors, dict):
        for field, value in errors.items():
            inner = first_error(value)
            return inner if field == "non_field_errors" else f"{field}: {inner}"
    if isinstance(errors, list) and errors:
        return first_error(errors[0])
    return str(errors)


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        # A refusal that says why keeps its code (tenant_admin_required, data_source_unavailable).
        exc = exceptions.PermissionDenied(str(exc) or None, code=getattr(exc, "code", None))
    elif isinstance(exc, Conflict):
        exc = _ConflictResponse(str(exc))
    elif isinstance(exc, TooManyConnectionTests):
        exc = exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        log.exception("unhandled API error", exc_info=exc)
        return Response({"detail": "Internal server error.", "code": "server_error"}, status=500)
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        body = {"detail": first_error(data), "code": "invalid", "errors": data}
    elif isinstance(data, dict) and "detail" in data:
        body = {"detail": str(data["detail"]), "code": getattr(data["detail"], "code", None) or exc.default_code}
    else:
        body = {"detail": first_error(data), "code": getattr(exc, "default_code", "error")}
    response.data = body
    return response


def json_error(detail: str, status_code: int, code: str | None = None, **extra) -> JsonResponse:
    body = {"detail": detail, "code": code or _DEFAULT_CODES.get(status_code, "error"), **extra}
    return JsonResponse(body, status=status_code)


_DEFAULT_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    500: "server_error",
}


def handler404(request, exception=None):
    return json_error(f"Not found: {request.path}", status.HTTP_404_NOT_FOUND)


def handler500(request):
    return json_error("Internal server error.", status.HTTP_500_INTERNAL_SERVER_ERROR)


def handler400(request, exception=None):
    return json_error(str(exception) if exception else "Bad request.", status.HTTP_400_BAD_REQUEST)


def handler403(request, exception=None):
    return json_error(str(exception) if exception else "Forbidden.", status.HTTP_403_FORBIDDEN)
