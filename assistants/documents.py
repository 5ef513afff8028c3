"""Uploaded documents to plain text, and text to passages.

Parsing uses the format's own well-kept library (pypdf, python-docx, BeautifulSoup); nothing here
executes anything from the file. Each failure is a DocumentError naming the file and the problem,
so the API can answer a 4xx that says what to fix.
"""

import io
import re
import zipfile
from dataclasses import dataclass

from django.conf import settings

from .models import Document


class DocumentError(Exception):
    """A document that cannot be ingested; `message` is shown to the client as is."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_document"):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code

    def as_drf(self):
        """The same problem as a DRF exception: the API's one error shape, with this status."""
        from rest_framework.exceptions import APIException

        error = APIException(self.message, code=self.code)
        error.status_code = self.status
        return error


EXTENSIONS = {
    ".pdf": Document.Kind.PDF,
    ".docx": Document.Kind.DOCX,
    ".html": Document.Kind.HTML, ".htm": Document.Kind.HTML,
    ".md": Document.Kind.MARKDOWN, ".markdown": Document.Kind.MARKDOWN,
    ".txt": Document.Kind.TEXT, ".text": Document.Kind.TEXT, ".csv": Document.Kind.TEXT, ".json": Document.Kind.TEXT,
}
CONTENT_TYPES = {
    "application/pdf": Document.Kind.PDF,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": Document.Kind.DOCX,
    "text/html": Document.Kind.HTML,
    "text/markdown": Document.Kind.MARKDOWN, "text/x-markdown": Document.Kind.MARKDOWN,
    "text/plain": Document.Kind.TEXT,
}
SUPPORTED = "PDF, DOCX, HTML, Markdown or plain text"


def detect_kind(file_name: str, content_type: str, data: bytes) -> str:
    """The format, from the file's own bytes first (a PDF or DOCX says what it is), then its name,
    then the declared content type: browsers send application/octet-stream for .md files."""
    if data.startswith(b"%PDF-"):
        return Document.Kind.PDF
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "word/document.xml" in archive.namelist():
                    return Document.Kind.DOCX
        except zipfile.BadZipFile:
            pass
        raise DocumentError(f"{file_name}: a ZIP archive that is not a Word document; upload {SUPPORTED}.", status=415,
                            code="unsupported_document")
    name = file_name.lower()
    for extension, kind in EXTENSIONS.items():
        if name.endswith(extension):
            return kind
    declared = (content_type or "").split(";")[0].strip().lower()
    if declared in CONTENT_TYPES:
        return CONTENT_TYPES[declared]
    if declared.startswith("text/") or not declared or declared == "application/octet-stream":
        return Document.Kind.TEXT  # decoded below: binary content is refused there
    raise DocumentError(f"{file_name}: {declared} is not a supported document type; upload {SUPPORTED}.", status=415,
                        code="unsupported_document")


def extract_text(file_name: str, kind: str, data: bytes) -> str:
    try:
        text = _EXTRACTORS[kind](data)
    except DocumentError as exc:
        raise DocumentError(f"{file_name}: {exc.message}", status=exc.status, code=exc.code) from None
    except Exception as exc:  # noqa: BLE001 - a library's parse error on hostile or broken input
        raise DocumentError(f"{file_name}: could not read this {Document.Kind(kind).label} file ({type(exc).__name__}: {exc}).") from None
    text = _normalize(text)
    if not text:
        raise DocumentError(f"{file_name}: no text found in the document (a scanned PDF needs OCR first).", code="empty_document")
    if len(text) > settings.MAX_DOCUMENT_TEXT_CHARS:
        raise DocumentError(
            f"{file_name}: the document holds {len(text)} characters of text, over the limit of "
            f"{settings.MAX_DOCUMENT_TEXT_CHARS} (QUERENT_MAX_DOCUMENT_TEXT_CHARS).", status=413, code="document_too_large",
        )
    return text


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        raise DocumentError("the PDF is encrypted; upload an unprotected copy.")
    return "\n\n".join(page.extract_text() or "" for page in reader.pages)


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:  # tables after the running text: rows as `a | b | c`
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(parts)


def _html(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "lxml")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text("\n")


def _text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise DocumentError(f"this is a binary file, not text; upload {SUPPORTED}.", status=415, code="unsupported_document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # every byte decodes: old exports are often Latin-1


_EXTRACTORS = {
    Document.Kind.PDF: _pdf, Document.Kind.DOCX: _docx, Document.Kind.HTML: _html,
    Document.Kind.MARKDOWN: _text, Document.Kind.TEXT: _text,
}


def _normalize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass(frozen=True)
class Passage:
    index: int
    text: str


def chunk(text: str, *, size: int | None = None, overlap: int | None = None) -> list[Passage]:
    """Passages of about `size` characters, cut at paragraph, then sentence, then word boundaries,
    each repeating the end of the previous one (`overlap`) so a fact split by a cut is whole in one."""
    size = size or settings.DOCUMENT_CHUNK_CHARS
    overlap = settings.DOCUMENT_CHUNK_OVERLAP if overlap is None else overlap
    pieces = _pieces(text, size)
    passages, current = [], ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > size:
            passages.append(current)
            tail = current[-overlap:] if overlap else ""
            tail = tail[tail.find(" ") + 1:] if " " in tail else tail  # start the overlap at a word
            current = f"{tail} {piece}".strip() if tail else piece
        else:
            current = f"{current}\n{piece}" if current else piece
    if current:
        passages.append(current)
    return [Passage(i, p) for i, p in enumerate(passages)]


def _pieces(text: str, size: int) -> list[str]:
    out = []
    for paragraph in text.split("\n\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= size:
            out.append(paragraph)
            continue
        for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
            while len(sentence) > size:  # one very long sentence: cut at the last space that fits
                cut = sentence.rfind(" ", 0, size)
                cut = cut if cut > size // 2 else size
                out.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                out.append(sentence)
    return out
