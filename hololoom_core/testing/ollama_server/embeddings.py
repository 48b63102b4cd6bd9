"""Deterministic embeddings for the Ollama wire server: a hashed bag of words, unit length."""

from __future__ import annotations

import functools
import hashlib
import math
import random
import re

EMBEDDING_DIM = 384
_WORD_RE = re.compile(r"\w+", re.UNICODE)


def embed_text(text: str, dim: int = EMBEDDING_DIM) -> list[float]:
    """Deterministic unit-length embedding: the sum of a fixed pseudo-random vector per lower-cased word.

    Texts sharing words are closer than unrelated texts, and every leading slice stays
    informative, so ``dimensions`` truncation behaves like a Matryoshka model's.  A text
    without word characters is embedded as one token of its raw content.
    """
    vector = [0.0] * dim
    for word in _WORD_RE.findall(text.lower()) or [f"\x00{text}"]:
        for index, value in enumerate(_word_vector(word, dim)):
            vector[index] += value
    return _normalize(vector)


@functools.lru_cache(maxsize=4096)
def _word_vector(word: str, dim: int) -> tuple[float, ...]:
    """A fixed Gaussian vector seeded from the word's hash."""
    seed = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    return tuple(rng.gauss(0.0, 1.0) for _ in range(dim))


def _normalize(vector: list[float]) -> list[float]:
    """Scale to unit length the way Ollama does (guarding against a zero norm)."""
    norm = max(math.sqrt(sum(v * v for v in vector)), 1e-12)
    return [v / norm for v in vector]
