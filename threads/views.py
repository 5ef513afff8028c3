"""Entry points shared by dialects: `/threads` and `/threads/{id}` route by method and body."""

from django.views.decorators.csrf import csrf_exempt

from config.db import in_worker_thread

from . import apis
from .http import HttpError, authenticate, json_body
from .opengpts import apis as opengpts_apis
from .sse import promptql_post

_thread_list = apis.ThreadListApi.as_view()
_thread_detail = apis.ThreadDetailApi.as_view()
_opengpts_create = opengpts_apis.ThreadCreateApi.as_view()
_opengpts_write = opengpts_apis.ThreadWriteApi.as_view()


_sync = in_worker_thread


def _method_not_allowed(request, allowed):
    return HttpError(405, f"Method {request.method} not allowed; allowed: {', '.join(allowed)}").response()


@csrf_exempt
async def threads_collection(request):
    """GET lists (both dialects); POST with `message` is PromptQL (SSE), without it OpenGPTs' create."""
    if request.method == "POST":
        try:
            principal = await authenticate(request)
            body = json_body(request)
            if "message" in body:
                return await promptql_post(request, principal, body)
        except HttpError as exc:
            return exc.response()
        return await _sync(_opengpts_create)(request)
    if request.method in ("GET", "HEAD"):
        return await _sync(_thread_list)(request)
    return _method_not_allowed(request, ["GET", "POST"])


@csrf_exempt
async def thread_item(request, thread_id):
    if request.method == "POST":
        try:
            principal = await authenticate(request)
            body = json_body(request)
            return await promptql_post(request, principal, body, thread_id=thread_id)
        except HttpError as exc:
            return exc.response()
    if request.method in ("GET", "HEAD"):
        return await _sync(_thread_detail)(request, thread_id=thread_id)
    if request.method in ("PUT", "DELETE"):
        return await _sync(_opengpts_write)(request, thread_id=thread_id)
    return _method_not_allowed(request, ["GET", "POST", "PUT", "DELETE"])
