"""Make every API path answer JSON: oversized bodies, Django's own 404/405/500 pages, and crashes."""

import logging
import re
from http import HTTPStatus

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig

from .errors import json_error
from .limits import body_limit, is_upload_path
from .fields import MAX_JSON_DEPTH

log = logging.getLogger(__name__)

# Paths that are pages for people; everything else is API and speaks JSON.
HTML_PREFIXES = ("/admin/", "/static/", "/api/docs", "/accounts/")
HTML_EXACT = ("/",)


def is_api_path(path: str) -> bool:
    return path not in HTML_EXACT and not path.startswith(HTML_PREFIXES)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests arrays and objects deeper than `limit` (brackets in strings do not count)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _JSON_BRACKET.findall(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


class InlineMiddleware:
    """A middleware whose hooks are plain code (headers, checks, no I/O): on the async path they run
    inline on the event loop, without a thread hop. `check_request` may answer early (a response, or
    None to go on); `check_response` sees every response on its way out."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        early = self.check_request(request)
        if early is not None:
            return early
        return self.check_response(request, self.get_response(request))

    async def __acall__(self, request):
        early = self.check_request(request)
        if early is not None:
            return early
        return self.check_response(request, await self.get_response(request))

    def check_request(self, request):
        return None

    def check_response(self, request, response):
        return response


class JsonErrorMiddleware(InlineMiddleware):
    def check_request(self, request):
        # The second line: the web process (config/web.py) already refuses bodies over the limit while
        # reading them; this covers other servers (a plain `daphne`, the test client) and the JSON depth.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error("Content-Length is not a number.", 400)
        limit = body_limit(request.path)
        if declared > limit:
            return json_error(f"Request body of {declared} bytes exceeds the limit of {limit} bytes.", 413)
        if is_upload_path(request.path):
            return None  # multipart, streamed to disk by the upload handlers: never read whole here
        if request.method in ("POST", "PUT", "PATCH") and not request.path.startswith("/admin/"):
            try:
                request.body  # noqa: B018 - reading enforces DATA_UPLOAD_MAX_MEMORY_SIZE for chunked bodies
            except RequestDataTooBig:
                return json_error(f"Request body exceeds the limit of {settings.MAX_BODY_BYTES} bytes.", 413)
            # Python's json parser recurses per level: refuse before any view parses it and crashes.
            if "json" in request.content_type and json_too_deep(request.body):
                return json_error(f"The JSON body is nested deeper than {MAX_JSON_DEPTH} levels.", 400)
        return None

    def check_response(self, request, response):
        if response.status_code < 400 or not is_api_path(request.path):
            return response
        content_type = response.get("Content-Type", "")
        if "json" in content_type or getattr(response, "streaming", False):
            return response
        if "text/event-stream" in content_type:
            return response
        try:
            reason = HTTPStatus(response.status_code).phrase
        except ValueError:
            reason = "Error"
        detail = reason
        if response.status_code == 404:
            detail = f"Not found: {request.path}"
        elif response.status_code == 405:
            allowed = response.get("Allow")
            detail = f"Method {request.method} not allowed" + (f"; allowed: {allowed}" if allowed else "")
        elif response.status_code >= 500:
            log.error("server error on %s %s", request.method, request.path)
            detail = "Internal server error."
        new = json_error(detail, response.status_code)
        if response.get("Allow"):
            new["Allow"] = response["Allow"]
        return new

    def process_exception(self, request, exception):
        if not is_api_path(request.path):
            return None
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error("Internal server error.", 500)
