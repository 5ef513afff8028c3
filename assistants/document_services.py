"""Writes on documents: ingest (parse, chunk, embed, store) and delete.

Every file of one upload is parsed and chunked before anything is written, and everything is then
written in one transaction: an upload either stores all its documents with all their passages or
nothing. `progress(stage, done, total)` is called as the work advances (the chat page shows it).
"""

import hashlib
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from config.identity import Principal
from executor.context import embeddings

from . import documents
from .documents import DocumentError
from .models import Assistant, Document, DocumentChunk
from .retrieval import term_counts


@dataclass
class Scope:
    """Where documents belong: exactly one of an assistant, a thread id or an end user id."""

    assistant: Assistant | None = None
    thread_id: object = None
    end_user_id: object = None

    def fields(self) -> dict:
        return {"assistant": self.assistant, "thread_id": self.thread_id, "end_user_id": self.end_user_id}

    def documents(self, tenant: str):
        return Document.objects.for_scopes(
            tenant=tenant, assistant_id=self.assistant.pk if self.assistant else None,
            thread_id=self.thread_id, end_user_id=self.end_user_id,
        )


@dataclass
class Upload:
    file_name: str
    data: bytes
    content_type: str = ""
    title: str = ""
    metadata: dict = field(default_factory=dict)


def _noop(stage: str, done: int, total: int) -> None:
    pass


def upload_from_file(uploaded) -> Upload:
    """A Django UploadedFile, read once; refused before reading when it declares a size over the limit."""
    name = (uploaded.name or "").replace("\x00", "") or "document"
    if uploaded.size is not None and uploaded.size > settings.MAX_DOCUMENT_BYTES:
        raise _too_large(name, uploaded.size)
    return Upload(file_name=name, data=uploaded.read(settings.MAX_DOCUMENT_BYTES + 1), content_type=uploaded.content_type or "")


def _too_large(name: str, size: int) -> DocumentError:
    return DocumentError(
        f"{name}: {size} bytes is over the limit of {settings.MAX_DOCUMENT_BYTES} bytes per document (QUERENT_MAX_DOCUMENT_BYTES).",
        status=413, code="document_too_large",
    )


def ingest(principal: Principal, scope: Scope, uploads: list[Upload], *, text_kind: str | None = None, progress=_noop) -> list[Document]:
    """Parse, chunk and store `uploads` in `scope`, all or nothing. `text_kind` skips format
    detection for text given directly (Julep docs' content)."""
    if not uploads:
        raise DocumentError("no files were sent: send one or more files in the `files` field.", code="no_documents")
    held = scope.documents(principal.tenant).count()
    if held + len(uploads) > settings.MAX_DOCUMENTS_PER_SCOPE:
        raise DocumentError(
            f"this would hold {held + len(uploads)} documents, over the limit of {settings.MAX_DOCUMENTS_PER_SCOPE} "
            "(QUERENT_MAX_DOCUMENTS_PER_SCOPE); delete some first.", status=413, code="too_many_documents",
        )
    prepared = []
    for number, upload in enumerate(uploads, start=1):
        if len(upload.data) > settings.MAX_DOCUMENT_BYTES:
            raise _too_large(upload.file_name, len(upload.data))
        progress("parsing", number - 1, len(uploads))
        kind = text_kind or documents.detect_kind(upload.file_name, upload.content_type, upload.data)
        text = documents.extract_text(upload.file_name, kind, upload.data)
        passages = documents.chunk(text)
        prepared.append((upload, kind, text, passages))
    progress("parsing", len(uploads), len(uploads))
    total = sum(len(p[3]) for p in prepared)
    vectors = embeddings.embed([p.text for item in prepared for p in item[3]]) if embeddings.enabled() else None
    progress("storing", 0, total)
    stored, done = [], 0
    with transaction.atomic():
        for upload, kind, text, passages in prepared:
            document = Document(
                title=(upload.title or upload.file_name)[:500], file_name=upload.file_name[:500], kind=kind,
                size_bytes=len(upload.data), sha256=hashlib.sha256(upload.data).hexdigest(), text_chars=len(text),
                chunk_count=len(passages), metadata=upload.metadata or {}, **scope.fields(),
            )
            document.assign_owner(principal)
            document.save(force_insert=True)
            DocumentChunk.objects.bulk_create(
                [
                    DocumentChunk(
                        document=document, index=p.index, text=p.text, terms=(terms := term_counts(p.text)), length=sum(terms.values()),
                        embedding=vectors[done + i] if vectors else None,
                    )
                    for i, p in enumerate(passages)
                ],
                batch_size=500,
            )
            done += len(passages)
            progress("storing", done, total)
            stored.append(document)
    progress("done", total, total)
    return stored


@transaction.atomic
def delete_document(document: Document) -> None:
    document.delete()


PROGRESS_SECONDS = 600


def progress_key(principal: Principal, upload_id: str) -> str:
    return f"document-progress:{principal.tenant}:{principal.user_id}:{upload_id}"


def progress_in_cache(principal: Principal, upload_id: str | None):
    """A `progress` callback that keeps the latest stage in the shared cache, where the uploader
    (and only the uploader: the key holds its principal) reads it while the upload is processed."""
    if not upload_id:
        return _noop
    from django.core.cache import cache

    key = progress_key(principal, upload_id[:100])

    def report(stage: str, done: int, total: int) -> None:
        cache.set(key, {"stage": stage, "done": done, "total": total}, PROGRESS_SECONDS)

    return report


def read_progress(principal: Principal, upload_id: str) -> dict | None:
    from django.core.cache import cache

    return cache.get(progress_key(principal, upload_id[:100]))
