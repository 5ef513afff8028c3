"""Passages of a conversation's documents ranked against a question.

Lexical by default (BM25 over each chunk's stored term counts, the same ranking and word stems the
context store uses: executor.context.retrieval), so it works offline in both run modes; when an
embeddings endpoint is configured, chunks embedded at upload are ranked by cosine too and the two
rankings are fused. The ranking is computed per question over the scope's chunks: a scope holds
the documents of one assistant, thread or end user (bench/retrieval.py measures the cost).
"""

from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from django.conf import settings

from executor.context import embeddings
from executor.context.retrieval import Bm25, fused, words

from .models import DocumentChunk


def term_counts(text: str) -> dict[str, int]:
    return dict(Counter(words(text)))


@dataclass(frozen=True)
class Passage:
    document_id: str
    title: str
    index: int
    text: str
    score: float
    scope: str

    def as_dict(self) -> dict:
        return asdict(self)


def search(documents, query: str, *, limit: int | None = None) -> list[Passage]:
    """The best passages of `documents` (a Document queryset already scoped to what the caller
    may read) for `query`, best first; [] when nothing matches a word of it."""
    limit = max(1, min(limit or settings.RETRIEVAL_PASSAGES, 50))
    rows = list(
        DocumentChunk.objects.filter(document__in=documents)
        .order_by("document_id", "index")
        .values_list("id", "document_id", "document__title", "document__assistant_id", "document__thread_id", "index", "terms", "embedding")
    )
    if not rows or not query.strip():
        return []
    lexical = Bm25([[term for term, count in row[6].items() for _ in range(count)] for row in rows]).scores(words(query))
    vector = _vector_scores(rows, query)
    ranked = fused(lexical, vector, limit, None)
    texts = dict(DocumentChunk.objects.filter(pk__in=[rows[i][0] for i, _ in ranked]).values_list("id", "text"))
    return [
        Passage(
            document_id=str(rows[i][1]), title=rows[i][2], index=rows[i][5], text=texts[rows[i][0]], score=round(float(score), 6),
            scope="assistant" if rows[i][3] else "thread" if rows[i][4] else "user",
        )
        for i, score in ranked
    ]


def _vector_scores(rows, query: str):
    """Cosine of the question to each embedded chunk (0 for a chunk uploaded before embeddings were
    configured); None when embeddings are off or the endpoint fails."""
    if not embeddings.enabled() or not any(row[7] for row in rows):
        return None
    vectors = embeddings.embed([query])
    if not vectors:
        return None
    question = np.asarray(vectors[0], dtype=np.float32)
    scores = np.zeros(len(rows), dtype=np.float32)
    for i, row in enumerate(rows):
        if row[7] and len(row[7]) == len(question):
            scores[i] = max(0.0, float(np.dot(question, np.asarray(row[7], dtype=np.float32))))
    return scores
