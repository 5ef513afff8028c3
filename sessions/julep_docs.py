"""Julep's agent and user docs: `/agents/{id}/docs` and `/users/{id}/docs` (create, list, delete as
the julep SDK 0.3.9 calls them, and search). A doc is `{title, content, metadata}` where content is a
string or a list of strings; it is stored as a Querent document (assistants.documents), so a chat
of the agent or with the user retrieves its passages (threads.recall) and names it in `doc_ids`."""

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from assistants import document_services, retrieval
from assistants.document_services import Scope, Upload
from assistants.documents import DocumentError
from assistants.models import Document
from config.fields import StrictCharField
from config.schema import ERROR, errors

from . import openapi as o
from . import selectors
from .http import metadata_filter
from .julep_serializers import DocInSerializer, ListQuerySerializer, created, deleted, stamp


class DocSearchSerializer(serializers.Serializer):
    text = StrictCharField(max_length=10_000)
    limit = serializers.IntegerField(min_value=1, max_value=50, required=False, default=5)


def doc_out(document: Document) -> dict:
    content = document.metadata.get("_content")
    return {
        "id": str(document.id),
        "title": document.title,
        "content": content if content is not None else "",
        "created_at": stamp(document.created_at),
        "metadata": {k: v for k, v in document.metadata.items() if k != "_content"},
    }


# The documents core refuses a doc over QUERENT_MAX_DOCUMENT_BYTES with a 413.
TOO_LARGE = {413: OpenApiResponse(ERROR, description="A doc is over the size limit per document")}


def _upload(doc: dict) -> Upload:
    content = doc["content"]
    text = content if isinstance(content, str) else "\n\n".join(content)
    # The content is kept as sent (a string or a list) to read it back; the passages are the text.
    metadata = {**(doc.get("metadata") or {}), "_content": content}
    return Upload(file_name=doc["title"], title=doc["title"], data=text.encode(), metadata=metadata)


def add_docs(principal, scope: Scope, docs: list[dict]) -> list[Document]:
    """Store validated Julep docs in `scope`, all or none (a refused one is a 4xx naming it)."""
    if not docs:
        return []
    try:
        return document_services.ingest(principal, scope, [_upload(doc) for doc in docs], text_kind=Document.Kind.TEXT)
    except DocumentError as exc:
        raise exc.as_drf() from None


def _scope(request, owner_kind: str, owner_id) -> Scope:
    if owner_kind == "agent":
        return Scope(assistant=selectors.get_agent(request.user, owner_id))
    return Scope(end_user_id=selectors.get_end_user(request.user, owner_id).pk)


def _docs(request, scope: Scope):
    return scope.documents(request.user.tenant).filter(owner=request.user.user_id)


class DocCollection(APIView):
    owner_kind = "agent"

    @extend_schema(summary="List docs", parameters=[ListQuerySerializer], responses={200: o.ok(o.items(o.DOC)), **errors(400, 401, 404)})
    def get(self, request, owner_id):
        scope = _scope(request, self.owner_kind, owner_id)
        query = ListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        docs = selectors.with_metadata(_docs(request, scope), metadata_filter(query.validated_data.get("metadata_filter")))
        start = query.validated_data["offset"]
        page = docs.order_by("-created_at", "id")[start: start + query.validated_data["limit"]]
        return Response({"items": [doc_out(d) for d in page]})

    @extend_schema(summary="Create a doc", request=DocInSerializer, responses={201: o.ok(o.CREATED), **errors(400, 401, 404), **TOO_LARGE})
    def post(self, request, owner_id):
        scope = _scope(request, self.owner_kind, owner_id)
        data = DocInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        [document] = add_docs(request.user, scope, [data.validated_data])
        return Response(created(document), status=status.HTTP_201_CREATED)


class DocDetail(APIView):
    owner_kind = "agent"

    @extend_schema(summary="Delete a doc", responses={202: o.ok(o.DELETED), **errors(401, 404)})
    def delete(self, request, owner_id, doc_id):
        scope = _scope(request, self.owner_kind, owner_id)
        with transaction.atomic():
            document = selectors._get_or_404(_docs(request, scope), "doc", pk=doc_id)
            document_services.delete_document(document)
        return Response(deleted(doc_id, timezone.now()), status=status.HTTP_202_ACCEPTED)


class DocSearch(APIView):
    owner_kind = "agent"

    @extend_schema(summary="Search docs: the passages closest to `text`", request=DocSearchSerializer, responses={200: o.ok(o.items(o.DOC_HIT)), **errors(400, 401, 404)})
    def post(self, request, owner_id):
        scope = _scope(request, self.owner_kind, owner_id)
        query = DocSearchSerializer(data=request.data)
        query.is_valid(raise_exception=True)
        passages = retrieval.search(_docs(request, scope), query.validated_data["text"], limit=query.validated_data["limit"])
        return Response({"items": [
            {"id": p.document_id, "title": p.title, "snippet": {"index": p.index, "content": p.text}, "score": p.score}
            for p in passages
        ]})


def views(owner_kind: str) -> dict:
    make = lambda cls: type(f"{owner_kind.title()}{cls.__name__}", (cls,), {"owner_kind": owner_kind}).as_view()  # noqa: E731
    return {"collection": make(DocCollection), "detail": make(DocDetail), "search": make(DocSearch)}


def doc_ids(run) -> dict:
    """Julep's `doc_ids` of a chat: the agent's and the user's docs whose passages the run was given."""
    from threads.recall import used_documents

    used = used_documents(run)
    return {
        "agent_doc_ids": [u["document_id"] for u in used if u["scope"] == "assistant"],
        "user_doc_ids": [u["document_id"] for u in used if u["scope"] == "user"],
    }


def recall_config(session, options: dict) -> dict:
    """What a chat's run reads: the session user's docs beside the agent's, looked up before the
    model answers unless the chat sets `recall: false` (Julep's default is to recall)."""
    return {"end_user_id": str(session.end_user_id) if session.end_user_id else None,
            "recall_documents": options.get("recall") is not False}
