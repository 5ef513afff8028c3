"""Documents in a run: which ones it may read, the `retrieval` tool, and the look-up a RAGBot or a
Julep chat makes before the model answers. Every look-up is written as a `retrieval` event with the
passages found, so clients and the run's record show what the answer was built on."""

import json

from assistants import retrieval
from assistants.models import Document

from .models import Message, Run, RunEvent, Thread
from .store import store

PASSAGES_HEADER = (
    "Passages from the documents the user gave you, most relevant first. Answer from them when they "
    "hold the answer, say which document you used, and say so when they do not."
)


def documents_for(run: Run, thread: Thread):
    """The assistant's, the thread's and (Julep) the session's end user's documents, in the thread's tenant."""
    return Document.objects.for_scopes(
        tenant=thread.tenant, assistant_id=thread.assistant_id, thread_id=thread.pk,
        end_user_id=(run.config or {}).get("end_user_id"),
    )


def look_up(run: Run, documents, query: str, *, call_id: str = "") -> list[dict]:
    passages = [p.as_dict() for p in retrieval.search(documents, query)]
    store.emit(run.thread_id, run.id, "retrieval", {"query": query, "call_id": call_id or None, "passages": passages})
    return passages


def as_text(passages: list[dict]) -> str:
    if not passages:
        return "No passage of the documents matches this question."
    return "\n\n".join(f"[{n}] {p['title']} (passage {p['index'] + 1}):\n{p['text']}" for n, p in enumerate(passages, start=1))


def before_answering(run: Run, thread: Thread, documents) -> dict | None:
    """The system message with the passages for the thread's last question, or None without documents."""
    question = (
        Message.objects.filter(thread_id=thread.pk, role=Message.Role.HUMAN).order_by("-seq").values_list("content", flat=True).first()
    )
    if not question or not documents.exists():
        return None
    return {"role": "system", "content": f"{PASSAGES_HEADER}\n\n{as_text(look_up(run, documents, question))}"}


def tool_output(run: Run, documents, call) -> dict:
    """The `retrieval` tool's result, in the same shape as execute_python's."""
    try:
        query = call.parsed()["query"]
        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty string")
    except (ValueError, KeyError, TypeError) as exc:
        return {"output": "", "error": f"The tool call's arguments were not valid: {exc}", "sql_statements": [], "modified_artifacts": []}
    return {"output": as_text(look_up(run, documents, query, call_id=call.id)), "error": None, "sql_statements": [], "modified_artifacts": []}


def used_documents(run: Run) -> list[dict]:
    """The documents whose passages a run was given: [{document_id, scope}], first use first."""
    seen = {}
    for payload in RunEvent.objects.filter(run=run, type="retrieval").order_by("seq").values_list("payload", flat=True):
        for passage in json.loads(payload).get("passages", []):
            seen.setdefault(passage["document_id"], passage["scope"])
    return [{"document_id": doc, "scope": scope} for doc, scope in seen.items()]

