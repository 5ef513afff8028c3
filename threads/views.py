"""`/threads` and `/threads/{id}`, shared by PromptQL and OpenGPTs: routed by method and body."""

from config.async_api import AsyncApiView, authenticate, json_body
from config.db import in_worker_thread

from . import apis
from .opengpts import apis as opengpts_apis
from .promptql.views import ask

_thread_list = in_worker_thread(apis.ThreadListApi.as_view())
_thread_detail = in_worker_thread(apis.ThreadDetailApi.as_view())
_opengpts_create = in_worker_thread(opengpts_apis.ThreadCreateApi.as_view())
_opengpts_write = in_worker_thread(opengpts_apis.ThreadWriteApi.as_view())


class ThreadsView(AsyncApiView):
    async def get(self, request):
        return await _thread_list(request)

    async def post(self, request):
        """With `message`, PromptQL's question (SSE); without, OpenGPTs' create."""
        principal = await authenticate(request)
        body = json_body(request)
        if "message" in body:
            return await ask(request, principal, body)
        return await _opengpts_create(request)


class ThreadView(AsyncApiView):
    async def get(self, request, thread_id):
        return await _thread_detail(request, thread_id=thread_id)

    async def post(self, request, thread_id):
        """PromptQL: a question on the thread (SSE)."""
        return await ask(request, await authenticate(request), json_body(request), thread_id=thread_id)

    async def put(self, request, thread_id):
        return await _opengpts_write(request, thread_id=thread_id)

    delete = put
