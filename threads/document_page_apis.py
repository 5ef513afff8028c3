"""The chat page's document endpoints (`/ui/...`): the documents a conversation reads, and how far
an upload has got. Uploads themselves go to `POST /ingest` with the thread as the target."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants import document_services
from assistants.serializers import document_out
from config.schema import errors

from . import recall, selectors
from .models import Run


class ThreadDocumentsApi(APIView):
    @extend_schema(summary="The documents a thread's runs read (its own and its assistant's)", responses={200: list[dict], **errors(401, 404)})
    def get(self, request, thread_id):
        thread = selectors.get_thread(request.user, thread_id)
        return Response([document_out(d) for d in recall.documents_for(Run(config={}), thread).select_related("assistant")[:500]])


class UploadProgressApi(APIView):
    @extend_schema(summary="How far the caller's upload with this id has got", responses={200: dict, **errors(401)})
    def get(self, request, upload_id):
        return Response(document_services.read_progress(request.user, upload_id) or {"stage": "waiting", "done": 0, "total": 0})
