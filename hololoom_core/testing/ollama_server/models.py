"""Installed-model metadata of the Ollama wire server: names, :class:`ModelSpec` and its details."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hololoom_core.testing.ollama_server.embeddings import EMBEDDING_DIM

DEFAULT_CHAT_MODEL = "llama3.2:latest"
DEFAULT_EMBED_MODEL = "all-minilm:latest"
_EMBED_HINTS = ("embed", "minilm", "bge", "e5-", "gte-", "arctic-embed", "paraphrase")


def normalize_model_name(name: str) -> str:
    """Return Ollama's short display name: default tag ``latest``, no registry/library prefix."""
    text = name.strip()
    for prefix in ("registry.ollama.ai/library/", "registry.ollama.ai/"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    if text.lower().startswith("library/"):
        text = text[len("library/") :]
    last = text.rsplit("/", 1)[-1]
    if text and ":" not in last:
        text = f"{text}:latest"
    return text


def _full_model_name(short: str) -> str:
    """Return the full name Ollama prints in capability errors (``registry.ollama.ai/library/x:tag``)."""
    parts = short.split("/")
    if len(parts) == 1:
        return f"registry.ollama.ai/library/{short}"
    if len(parts) == 2:
        return f"registry.ollama.ai/{short}"
    return short


def _parse_parameter_count(size: str) -> int:
    """Turn a parameter size label such as ``3.2B`` or ``22.6M`` into a count."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMBT]?)\s*", size.upper())
    if not match:
        return 0
    scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[match.group(2)]
    return int(float(match.group(1)) * scale)


_CHAT_TEMPLATE = (
    "{{- range .Messages }}<|start_header_id|>{{ .Role }}<|end_header_id|>\n\n"
    "{{ .Content }}<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
)
_FIXED_MODIFIED_AT = datetime(2025, 1, 15, 10, 20, 30, 123456, tzinfo=UTC)


@dataclass
class ModelSpec:
    """One installed model as ``/api/tags`` and ``/api/show`` describe it; ``capabilities`` gate endpoints."""

    name: str
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    size: int = 2_019_393_189
    capabilities: tuple[str, ...] = ("completion", "tools")
    context_length: int = 131_072
    embedding_length: int = 3_072
    template: str = _CHAT_TEMPLATE
    system: str = ""
    license: str = ""
    parameters: dict[str, Any] = field(
        default_factory=lambda: {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
    )
    modified_at: datetime = _FIXED_MODIFIED_AT

    def __post_init__(self) -> None:
        self.name = normalize_model_name(self.name)
        self.capabilities = tuple(self.capabilities)

    @classmethod
    def chat(cls, name: str, *, thinking: bool = False, tools: bool = True, **kwargs: Any) -> ModelSpec:
        """Build a generative model spec (``completion`` plus optional ``tools``/``thinking``)."""
        caps = ["completion"] + (["tools"] if tools else []) + (["thinking"] if thinking else [])
        return cls(name=name, capabilities=tuple(caps), **kwargs)

    @classmethod
    def embedding(cls, name: str, **kwargs: Any) -> ModelSpec:
        """Build an embedding-only model spec (BERT-like, 384-dimensional, no chat/generate)."""
        defaults: dict[str, Any] = {
            "family": "bert",
            "parameter_size": "23M",
            "quantization_level": "F16",
            "size": 45_960_996,
            "capabilities": ("embedding",),
            "context_length": 512,
            "embedding_length": EMBEDDING_DIM,
            "template": "{{ .Prompt }}",
            "parameters": {"num_ctx": 256},
        }
        defaults.update(kwargs)
        return cls(name=name, **defaults)

    @classmethod
    def guess(cls, name: str) -> ModelSpec:
        """Build a spec from a bare name: embedding-looking names become embedding models, others chat."""
        lowered = name.lower()
        if any(hint in lowered for hint in _EMBED_HINTS):
            return cls.embedding(name)
        return cls.chat(name, thinking=any(t in lowered for t in ("qwen3", "deepseek-r1", "gpt-oss")))

    @property
    def digest(self) -> str:
        """Deterministic 64-hex manifest digest (Ollama lists it without the ``sha256:`` prefix)."""
        return hashlib.sha256(f"hololoom-wire:{self.name}".encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        """Return the ``details`` object shared by tags, show and ps."""
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


def _blob_digest(spec: ModelSpec) -> str:
    """Deterministic stand-in for the digest of the model's weights blob."""
    return hashlib.sha256(spec.digest.encode()).hexdigest()
