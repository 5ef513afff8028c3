"""Uploading files as a data source: `POST /api/v1/data-sources/uploads` (multipart, field `file`,
repeatable; optional `name`).

JSON by default: 201 with the new data source and its tables, or a 4xx naming the file and, for a
malformed one, the line/column. With `Accept: text/event-stream` the same work streams `progress`
events while DuckDB loads, then one `done` (the data source) or `error` (status, detail, code).
The body's size is refused before it is read (QUERENT_UPLOAD_MAX_BYTES, config.middleware and
the web process); files go to disk as they arrive (Django's temporary-file upload handler).
"""


import asyncio
import logging
import queue
import threading

from django.db import close_old_connections
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import ERROR, errors
from threads.sse import SSE_HEADERS, sse_frame

from .uploads import UploadError, create_upload_source, stage

UPLOAD_PATH = "/api/v1/data-sources/uploads"
POLL_S, KEEPALIVE_S = 0.1, 15.0
log = logging.getLogger(__name__)


class EventStreamRenderer(BaseRenderer):
    """Lets `Accept: text/event-stream` through content negotiation; the view answers with a stream."""

    media_type = "text/event-stream"
    format = "sse"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return sse_frame("error", data).decode() if data is not None else ""


class AcceptHeaderOnly(DefaultContentNegotiation):
    """The Accept header picks JSON or the event stream; DRF's `?format=` override is not part of
    this API (an unknown one was a bare 404), so it is ignored here and left out of the schema."""

    def select_renderer(self, request, renderers, format_suffix=None):
        accepted = [r for r in renderers if r.media_type in request.headers.get("Accept", "")] or renderers[:1]
        return accepted[0], accepted[0].media_type


def data_source_out(data_source) -> dict:
    upload = (data_source.metadata or {}).get("upload", {})
    return {"id": str(data_source.id), "name": data_source.name, "engine": data_source.engine,
            "tables": upload.get("tables", []), "files": upload.get("files", []),
            "created_at": data_source.created_at.isoformat() if data_source.created_at else None}


def _error_body(exc: UploadError) -> dict:
    return {"detail": exc.message, "code": exc.code, **exc.where}


_STR = {"type": "string"}
UPLOADED_SOURCE = {"type": "object", "required": ["id", "name", "engine", "tables", "files", "created_at"], "properties": {
    "id": {"type": "string", "format": "uuid"}, "name": _STR, "engine": _STR,
    "tables": {"type": "array", "items": {"type": "object", "required": ["name", "source", "rows", "columns"], "properties": {
        "name": _STR, "source": _STR, "rows": {"type": "integer"}, "columns": {"type": "array", "items": _STR}}}},
    "files": {"type": "array", "items": {"type": "object", "required": ["name", "bytes"],
                                         "properties": {"name": _STR, "bytes": {"type": "integer"}}}},
    "created_at": {"type": "string", "nullable": True}}}


class UploadApi(APIView):
    parser_classes = [MultiPartParser]
    renderer_classes = [JSONRenderer, EventStreamRenderer]
    content_negotiation_class = AcceptHeaderOnly

    @extend_schema(
        parameters=[OpenApiParameter("format", exclude=True)],
        summary="Upload CSV, TSV, Parquet, JSON-lines or XLSX files as a new data source (one table per file or sheet)",
        request={"multipart/form-data": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}}, "name": {"type": "string"}}}},
        responses={201: OpenApiResponse(UPLOADED_SOURCE, description="The new data source"), **errors(400, 401), 413: OpenApiResponse(ERROR, description="The upload is over QUERENT_UPLOAD_MAX_BYTES"),
                   415: OpenApiResponse(ERROR, description="Not a CSV, TSV, Parquet, JSON-lines or XLSX file")},
    )
    def post(self, request):
        files = []
        try:
            for uploaded in request.FILES.getlist("file"):
                files.append(stage(uploaded))
        except UploadError as exc:
            for incoming in files:  # the ones staged before the refused one
                incoming.path.unlink(missing_ok=True)
            return Response(_error_body(exc), status=exc.status)
        unknown = sorted(set(request.data) - {"file", "name"})
        name = request.data.get("name") or ""
        if unknown or not isinstance(name, str) or len(name) > 200:
            for incoming in files:
                incoming.path.unlink(missing_ok=True)
            field = unknown[0] if unknown else "name"
            return Response({"detail": f"{field}: {'unknown field' if unknown else 'at most 200 characters'}",
                             "code": "invalid", "errors": {field: ["Unknown field." if unknown else "Invalid."]}},
                            status=status.HTTP_400_BAD_REQUEST)
        if "text/event-stream" in request.headers.get("Accept", ""):
            return StreamingHttpResponse(_stream(request.user, files, name), content_type="text/event-stream",
                                         headers=SSE_HEADERS)
        try:
            data_source = create_upload_source(request.user, files, name=name)
        except UploadError as exc:
            return Response(_error_body(exc), status=exc.status)
        return Response(data_source_out(data_source), status=status.HTTP_201_CREATED)


async def _stream(principal, files, name):
    """Frames while a worker thread loads: progress as DuckDB reports it, then done or error. An
    async iterator, so the server sends each frame as it comes (a sync one is consumed whole first)."""
    events: queue.Queue = queue.Queue()

    def work():
        try:
            data_source = create_upload_source(principal, files, name=name, progress=lambda e: events.put(("progress", e)))
            events.put(("done", data_source_out(data_source)))
        except UploadError as exc:
            events.put(("error", {"status": exc.status, **_error_body(exc)}))
        except Exception:  # logged; the client still gets an event, never a hanging stream
            log.exception("upload failed")
            events.put(("error", {"status": 500, "detail": "the upload failed; nothing was created", "code": "upload_failed"}))
        finally:
            close_old_connections()

    threading.Thread(target=work, daemon=True, name="querent-upload").start()
    yield sse_frame("progress", {"stage": "received", "files": [{"name": f.name, "bytes": f.size} for f in files]})
    quiet = 0.0
    while True:
        try:
            kind, data = events.get_nowait()
        except queue.Empty:
            await asyncio.sleep(POLL_S)
            quiet += POLL_S
            if quiet >= KEEPALIVE_S:
                quiet = 0.0
                yield b": keep-alive\n\n"
            continue
        quiet = 0.0
        yield sse_frame(kind, data)
        if kind in ("done", "error"):
            return
