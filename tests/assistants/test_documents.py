"""Documents in the core: each format parsed by its library, chunked, stored all or nothing, ranked."""

import pytest
from django.test import override_settings

from assistants import document_services, documents, retrieval
from assistants.document_services import Scope, Upload
from assistants.documents import DocumentError
from assistants.models import Assistant, Document, DocumentChunk
from config.identity import Principal
from tests.support.documents import DOOR_PASSAGE, HANDBOOK, SECURITY, docx_bytes, pdf_bytes

ALICE = Principal("acme", "alice")


@pytest.fixture
def assistant(db):
    return Assistant.objects.create(tenant="acme", owner="alice", name="handbook")


@pytest.mark.parametrize("name, data, needle, kind", [
    ("a.pdf", pdf_bytes(["Quarterly revenue grew 12 percent.", "Costs were flat."]), "Quarterly revenue grew 12 percent.", "pdf"),
    ("a.docx", docx_bytes(["The pilot starts in March."], [["city", "users"], ["Oslo", "40"]]), "Oslo | 40", "docx"),
    ("a.html", b"<html><head><script>alert(1)</script><style>p{}</style></head><body><h1>Plan</h1><p>Ship on Friday.</p></body></html>",
     "Ship on Friday.", "html"),
    ("notes.md", b"# Notes\n\n- buy milk\n- call Ana", "- call Ana", "markdown"),
    ("notes.txt", "caf\u00e9 au lait".encode("latin-1"), "caf\u00e9 au lait", "text"),
])
def test_each_format_is_parsed_by_its_library(name, data, needle, kind):
    detected = documents.detect_kind(name, "application/octet-stream", data)
    text = documents.extract_text(name, detected, data)
    assert detected == kind and needle in text
    assert "alert(1)" not in text


@pytest.mark.parametrize("name, data, status, words", [
    ("x.zip", b"PK\x03\x04" + b"\x00" * 40, 415, "ZIP archive"),
    ("broken.pdf", b"%PDF-1.4\nnot really", 400, "could not read"),
    ("blob.bin", b"\x00\x01\x02binary", 415, "binary"),
    ("empty.txt", b"   \n\n ", 400, "no text"),
])
def test_bad_files_are_refused_with_the_problem_named(name, data, status, words):
    with pytest.raises(DocumentError) as caught:
        kind = documents.detect_kind(name, "", data)
        documents.extract_text(name, kind, data)
    assert caught.value.status == status and words in caught.value.message and name in caught.value.message


def test_chunks_overlap_and_respect_the_size():
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 60 for i in range(20))
    passages = documents.chunk(text, size=400, overlap=80)
    assert len(passages) > 5 and all(len(p.text) <= 480 for p in passages)
    assert [p.index for p in passages] == list(range(len(passages)))
    assert all(passages[i].text[-20:].split()[-1] in passages[i + 1].text for i in range(len(passages) - 1))


def test_an_upload_is_all_or_nothing(assistant):
    good = Upload("handbook.txt", "\n\n".join(HANDBOOK).encode())
    bad = Upload("broken.pdf", b"%PDF-1.4\nnot a pdf")
    with pytest.raises(DocumentError):
        document_services.ingest(ALICE, Scope(assistant=assistant), [good, bad])
    assert not Document.objects.exists() and not DocumentChunk.objects.exists()


@override_settings(MAX_DOCUMENT_BYTES=100)
def test_size_limit_is_a_413_naming_the_setting(assistant):
    with pytest.raises(DocumentError) as caught:
        document_services.ingest(ALICE, Scope(assistant=assistant), [Upload("big.txt", b"x " * 100)])
    assert caught.value.status == 413 and "QUERENT_MAX_DOCUMENT_BYTES" in caught.value.message
    assert not Document.objects.exists()


def test_progress_is_reported(assistant):
    stages = []
    document_services.ingest(ALICE, Scope(assistant=assistant), [Upload("a.txt", b"alpha beta"), Upload("b.md", b"# gamma")],
                             progress=lambda stage, done, total: stages.append((stage, done, total)))
    assert stages[0] == ("parsing", 0, 2) and ("parsing", 2, 2) in stages and stages[-1] == ("done", 2, 2)


def test_the_passage_holding_the_answer_ranks_first(assistant):
    scope = Scope(assistant=assistant)
    document_services.ingest(ALICE, scope, [
        Upload("handbook.docx", docx_bytes(HANDBOOK)), Upload("security.pdf", pdf_bytes(SECURITY)),
    ])
    with override_settings(DOCUMENT_CHUNK_CHARS=120, DOCUMENT_CHUNK_OVERLAP=0):
        document_services.ingest(ALICE, scope, [Upload("security-small.txt", "\n\n".join(SECURITY).encode())])
    found = retrieval.search(scope.documents("acme"), "What is the door code of the Leeds warehouse loading dock?")
    assert found and "4417" in found[0].text and found[0].scope == "assistant"
    assert DOOR_PASSAGE in found[0].text or "4417" in found[0].text
    assert retrieval.search(scope.documents("acme"), "zebra quantum") == []


def test_documents_stay_in_their_tenant_and_scope(assistant):
    other = Assistant.objects.create(tenant="globex", owner="alice", name="other")
    document_services.ingest(Principal("globex", "alice"), Scope(assistant=other), [Upload("s.txt", DOOR_PASSAGE.encode())])
    assert retrieval.search(Scope(assistant=assistant).documents("acme"), "door code") == []
    assert Document.objects.for_scopes(tenant="acme", assistant_id=other.pk).count() == 0


def test_embeddings_when_configured_find_what_no_word_matches(assistant, llm):
    """With an embeddings endpoint (the scripted server's deterministic trigram vectors), passages are
    embedded at upload and a question sharing no word with the answer still finds it."""
    scope = Scope(assistant=assistant)
    with override_settings(EMBEDDINGS_MODEL="fake-embedding", EMBEDDINGS_BASE_URL=llm.base_url, EMBEDDINGS_API_KEY="test",
                           DOCUMENT_CHUNK_CHARS=120, DOCUMENT_CHUNK_OVERLAP=0):
        document_services.ingest(ALICE, scope, [Upload("security.txt", "\n\n".join(SECURITY).encode())])
        assert all(len(v) == 64 for v in DocumentChunk.objects.values_list("embedding", flat=True))
        assert retrieval.search(scope.documents("acme"), "loadingdock doorcode") != []
        found = retrieval.search(scope.documents("acme"), "loadingdock doorcode")
    assert "4417" in found[0].text
    assert [r["input"] for r in llm.embedding_requests][-1] == ["loadingdock doorcode"]
    with override_settings(EMBEDDINGS_MODEL=""):  # off again: lexical only, and no word matches
        assert retrieval.search(scope.documents("acme"), "loadingdock doorcode") == []
