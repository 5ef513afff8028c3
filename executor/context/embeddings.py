"""Embeddings from an OpenAI-compatible endpoint, when the operator configured a model
(QUERENT_EMBEDDINGS_MODEL). Optional by design: every caller works without them (lexical
similarity), and a failing endpoint only costs the vector half of the ranking, never a request."""

from __future__ import annotations

import logging

import numpy as np
import openai
from django.conf import settings

log = logging.getLogger(__name__)
BATCH = 256


def model() -> str:
    return settings.EMBEDDINGS_MODEL or ""


def enabled() -> bool:
    return bool(model())


def _client() -> openai.OpenAI:
    return openai.OpenAI(
        base_url=settings.EMBEDDINGS_BASE_URL or None, api_key=settings.EMBEDDINGS_API_KEY or "not-needed",
        timeout=openai.Timeout(30.0, connect=10.0), max_retries=1,
    )


def embed(texts: list[str]) -> list[list[float]] | None:
    """Unit vectors for `texts`, or None when off or the endpoint fails (logged, no secret in it)."""
    if not enabled() or not texts:
        return None
    try:
        client = _client()
        vectors = []
        for start in range(0, len(texts), BATCH):
            reply = client.embeddings.create(model=model(), input=texts[start : start + BATCH])
            vectors.extend(item.embedding for item in sorted(reply.data, key=lambda d: d.index))
    except openai.OpenAIError as exc:
        log.warning("embeddings endpoint failed; lexical similarity only: %s", type(exc).__name__)
        return None
    return [normalized(v) for v in vectors]


def normalized(vector) -> list[float]:
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return (array / norm).tolist() if norm else array.tolist()
