"""OpenGPTs' `POST /ingest`: multipart `files` plus a `config` JSON naming
`configurable.assistant_id` or `configurable.thread_id` (exactly one), as upstream's frontend sends it."""

import json

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants import document_services
from assistants.document_services import Scope
from assistants.documents import DocumentError
from assistants.models import Assistant
from assistants.serializers import document_out
from config.schema import errors

from ..models import Thread
from . import openapi


def scope_from_config(principal, raw) -> Scope:
    """The config's target, which the caller must own (a public assistant is not theirs to fill)."""
    try:
        config = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ValidationError({"config": ["must be JSON: {\"configurable\": {\"assistant_id\": ...}}"]}) from None
    configurable = config.get("configurable") if isinstance(config, dict) else None
    if not isinstance(configurable, dict):
        raise ValidationError({"config": ["must be an object with `configurable`"]})
    assistant_id, thread_id = configurable.get("assistant_id"), configurable.get("thread_id")
    if ("assistant_id" in configurable) == ("thread_id" in configurable):  # a key given as null names it too
        raise ValidationError({"config": ["name exactly one of configurable.assistant_id or configurable.thread_id"]})
    if "assistant_id" in configurable:
        assistant = Assistant.objects.visible_to(principal).filter(pk=assistant_id).first() if _uuid(assistant_id) else None
        if assistant is None:
            raise NotFound("Assistant not found.")
        return Scope(assistant=assistant)
    thread = Thread.objects.visible_to(principal).filter(pk=thread_id).first() if _uuid(thread_id) else None
    if thread is None:
        raise NotFound("Thread not found.")
    return Scope(thread_id=thread.pk)


def _uuid(value) -> bool:
    import uuid

    try:
        uuid.UUID(str(value))
        return True
    except ValueError:
        return False


def ingest_request(request, scope: Scope) -> list:
    """The request's `files`, ingested all or nothing; progress under the `upload_id` field, if given."""
    upload_id = request.data.get("upload_id") or request.query_params.get("upload_id")
    progress = document_services.progress_in_cache(request.user, upload_id)
    try:
        uploads = [document_services.upload_from_file(f) for f in request.FILES.getlist("files")]
        return document_services.ingest(request.user, scope, uploads, progress=progress)
    except DocumentError as exc:
        progress("failed", 0, 0)
        raise exc.as_drf() from None


class IngestApi(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(summary="Upload documents to an assistant or a thread (OpenGPTs)", request={"multipart/form-data": openapi.INGEST},
                   responses={200: openapi.array(openapi.DOCUMENT), **errors(400, 401, 404)})
    def post(self, request):
        if "config" not in request.data:
            raise ValidationError({"config": ["required: {\"configurable\": {\"assistant_id\": ...}} or thread_id"]})
        scope = scope_from_config(request.user, request.data["config"])
        return Response([document_out(d) for d in ingest_request(request, scope)])
