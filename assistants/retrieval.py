"""Passages of a conversation's documents ranked against a question.

Lexical by default (BM25 over each chunk's stored term counts, with the word stems and constants the
context store uses: executor.context.retrieval), so it works offline in both run modes; when an
embeddings endpoint is configured, chunks embedded at upload are ranked by cosine too and the two
rankings are fused. The ranking is computed per question over the scope's chunks: a scope holds
the documents of one assistant, thread or end user (bench/retrieval.py measures the cost).
"""

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
from django.conf import settings
from django.db.models import Avg, Count, Q, TextField
from django.db.models.functions import Cast

from executor.context import embeddings
from executor.context.retrieval import words

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
    may read) for `query`, best first; [] when nothing matches it."""
    limit = max(1, min(limit or settings.RETRIEVAL_PASSAGES, 50))
    chunks = DocumentChunk.objects.filter(document__in=documents)
    lexical = _bm25(chunks, sorted(set(words(query))))
    vector = _cosine(chunks, query)
    ranked = _fuse([lexical, vector] if vector else [lexical], limit)
    found = {
        row[0]: row
        for row in DocumentChunk.objects.filter(pk__in=ranked).values_list(
            "id", "document_id", "document__title", "document__assistant_id", "document__thread_id", "index", "text")
    }
    scores = {**(vector or {}), **lexical}
    return [
        Passage(document_id=str(row[1]), title=row[2], index=row[5], text=row[6], score=round(float(scores[chunk_id]), 6),
                scope="assistant" if row[3] else "thread" if row[4] else "user")
        for chunk_id in ranked
        for row in [found[chunk_id]]
    ]


def _bm25(chunks, terms: list[str], k1: float = 1.2, b: float = 0.75) -> dict[int, float]:
    """Okapi BM25 (the constants of executor.context.retrieval.Bm25) from each chunk's stored term
    counts and word count. The database picks the chunks whose terms name a query word (a text
    match on the JSON, in either database), so only those are read and decoded."""
    if not terms:
        return {}
    stats = chunks.aggregate(n=Count("id"), average=Avg("length"))
    if not stats["n"]:
        return {}
    named = Q()
    for term in terms:
        named |= Q(terms_text__contains=f'"{term}"')
    candidates = list(chunks.annotate(terms_text=Cast("terms", TextField())).filter(named).values_list("id", "terms_text", "length"))
    counts: dict[str, dict[int, int]] = {term: {} for term in terms}
    for chunk_id, text, _ in candidates:
        decoded = json.loads(text)
        for term in terms:
            if term in decoded:
                counts[term][chunk_id] = decoded[term]
    lengths = {chunk_id: length for chunk_id, _, length in candidates}
    average = float(stats["average"] or 1.0) or 1.0
    scores: dict[int, float] = {}
    for hits in counts.values():
        if hits:
            idf = math.log(1 + (stats["n"] - len(hits) + 0.5) / (len(hits) + 0.5))
            for chunk_id, tf in hits.items():
                norm = k1 * (1 - b + b * lengths[chunk_id] / average)
                scores[chunk_id] = scores.get(chunk_id, 0.0) + idf * tf * (k1 + 1) / (tf + norm)
    return scores


def _cosine(chunks, query: str) -> dict[int, float] | None:
    """Cosine of the question to each embedded chunk; None when embeddings are off, the endpoint
    fails, or no chunk was embedded (uploaded before embeddings were configured)."""
    if not embeddings.enabled():
        return None
    stored = list(chunks.filter(embedding__isnull=False).values_list("id", "embedding"))
    vectors = embeddings.embed([query]) if stored else None
    if not vectors:
        return None
    question = np.asarray(vectors[0], dtype=np.float32)
    return {
        chunk_id: float(np.dot(question, np.asarray(vector, dtype=np.float32)))
        for chunk_id, vector in stored
        if len(vector) == len(question) and float(np.dot(question, np.asarray(vector, dtype=np.float32))) > 0
    }


def _fuse(rankings: list[dict[int, float]], limit: int) -> list[int]:
    """Reciprocal rank fusion (as executor.context.retrieval.fused): a chunk either ranking finds
    well ranks well, and neither score scale dominates. One ranking: its own order."""
    ordered = [sorted(r, key=lambda chunk_id: (-r[chunk_id], chunk_id)) for r in rankings if r]
    if len(ordered) == 1:
        return ordered[0][:limit]
    fusion: dict[int, float] = {}
    for ranking in ordered:
        for rank, chunk_id in enumerate(ranking[: max(limit * 10, 50)]):
            fusion[chunk_id] = fusion.get(chunk_id, 0.0) + 1.0 / (60 + rank)
    return sorted(fusion, key=lambda chunk_id: (-fusion[chunk_id], chunk_id))[:limit]
