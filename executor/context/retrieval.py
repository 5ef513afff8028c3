"""Similarity without a service: BM25 over words, in numpy, plus cosine over embeddings when the
entries have them. Portable (PostgreSQL and SQLite alike, nothing to install in the database) and
fast once built: an index is built per process and reused until the data source's context
version changes (executor.context.index)."""

from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    "a an and are as at be by did do does for from had has have how i in is it its me my of on or our show "
    "tell that the their them there these this those to was were what when where which who whom why will "
    "with you your give list find get all each per".split()
)


def words(text: str | None) -> list[str]:
    """Lower-case word stems: underscores split names ("invoice_line" → invoice, line), a plural
    's' is dropped so "customers" finds customer."""
    out = []
    for word in _WORD.findall((text or "").lower().replace("_", " ")):
        if word in STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
    return out


class Bm25:
    """Okapi BM25 (k1=1.2, b=0.75) over token lists; each posting's weight is computed once."""

    def __init__(self, documents: list[list[str]], k1: float = 1.2, b: float = 0.75):
        self.size = len(documents)
        lengths = np.array([len(d) for d in documents], dtype=np.float32)
        average = float(lengths.mean()) if self.size else 0.0
        postings: dict[str, dict[int, int]] = {}
        for index, document in enumerate(documents):
            for term in document:
                counts = postings.setdefault(term, {})
                counts[index] = counts.get(index, 0) + 1
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, counts in postings.items():
            ids = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            idf = np.log(1 + (self.size - len(ids) + 0.5) / (len(ids) + 0.5))
            norm = k1 * (1 - b + b * lengths[ids] / (average or 1.0))
            self.postings[term] = (ids, (idf * tf * (k1 + 1) / (tf + norm)).astype(np.float32))

    def scores(self, query: list[str]) -> np.ndarray:
        scores = np.zeros(self.size, dtype=np.float32)
        for term in set(query):
            hit = self.postings.get(term)
            if hit is not None:
                scores[hit[0]] += hit[1]
        return scores


def top(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> list[int]:
    """Indexes of the k best positive scores (allowed by `mask`), best first."""
    if mask is not None:
        scores = np.where(mask, scores, 0)
    candidates = np.flatnonzero(scores > 0)
    if not len(candidates):
        return []
    if len(candidates) > k:
        candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    return sorted(candidates.tolist(), key=lambda i: (-scores[i], i))


def fused(lexical: np.ndarray, vector: np.ndarray | None, k: int, mask: np.ndarray | None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of the lexical and the vector ranking (when there is one): an entry
    either finds well ranks well, and neither score scale dominates. Returns (index, score)."""
    depth = max(k * 10, 50)
    ranked_lexical = top(lexical, depth, mask)
    if vector is None:
        return [(i, float(lexical[i])) for i in ranked_lexical[:k]]
    ranked_vector = top(vector, depth, mask)
    fusion: dict[int, float] = {}
    for ranking in (ranked_lexical, ranked_vector):
        for rank, index in enumerate(ranking):
            fusion[index] = fusion.get(index, 0.0) + 1.0 / (60 + rank)
    best = sorted(fusion.items(), key=lambda item: (-item[1], item[0]))[:k]
    return [(i, round(score, 6)) for i, score in best]
