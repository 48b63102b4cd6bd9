"""Entity extraction: every kind, known people, and prefilters that never change a result."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import yaml

from hololoom_core.memory.patterns import PatternBook
from hololoom_core.memory.prefilter import gate_regex, may_match, required_substrings
from hololoom_core.text import entities as entities_module
from hololoom_core.text.entities import extract_entities

DATA = Path(__file__).resolve().parent.parent / "data" / "memory"


def kinds(text: str, people: tuple[str, ...] = ()) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for entity in extract_entities(text, people):
        found.setdefault(entity.kind, []).append(entity.value)
    return found


def test_every_kind_is_found_and_normalised() -> None:
    text = ("INC-4821: checkout-api returns HTTP 502 and 503s on web-03.prod (10.0.4.12:6379) after commit "
            "3f9a2c1 changed config/checkout-api/database.yaml; ECONNRESET and TimeoutError in the logs, "
            "see https://grafana.example.com/d/x?from=now-1h. @Alice please look, cc @bob:example.org")
    found = kinds(text)
    assert found["incident"] == ["INC-4821"]
    assert found["service"] == ["checkout-api"]
    assert found["http_status"] == ["502", "503"]
    assert found["host"] == ["web-03.prod"]
    assert found["ip"] == ["10.0.4.12:6379"]
    assert found["commit"] == ["3f9a2c1"]
    assert found["file"] == ["config/checkout-api/database.yaml"]
    assert found["error_code"] == ["ECONNRESET", "TimeoutError"]
    assert found["url"] == ["https://grafana.example.com/d/x?from=now-1h"]
    assert found["person"] == ["alice", "bob"]


def test_known_people_are_found_without_at_sign_but_not_inside_words() -> None:
    found = kinds("Alice will restart it; bobby is not bob, and marco-api is a service", ("alice", "bob", "marco"))
    assert found["person"] == ["alice", "bob"]
    assert found["service"] == ["marco-api"]
    assert "person" not in kinds("alice will restart it")  # unknown names need an @


def _reference(text: str) -> list[tuple[str, str, int, int]]:
    """Extraction with every prefilter switched off."""
    saved = dict(entities_module._PREFILTERS)
    try:
        for kind in entities_module._PREFILTERS:
            entities_module._PREFILTERS[kind] = lambda text, lower: True
        return [(e.kind, e.value, e.start, e.end) for e in extract_entities(text)]
    finally:
        entities_module._PREFILTERS.update(saved)


def _texts() -> list[str]:
    texts = [case["text"] for name in ("labelled_dev.yaml", "labelled_heldout.yaml")
             for case in yaml.safe_load((DATA / name).read_text())]
    rng = random.Random(3)
    alphabet = "abcdefINC-0123456789./:@ xyzHTTPS5Error"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(5, 60))) for _ in range(400)]
    return texts


def test_entity_prefilters_never_change_the_result() -> None:
    for text in _texts():
        assert [(e.kind, e.value, e.start, e.end) for e in extract_entities(text)] == _reference(text), text


def test_detector_prefilters_are_necessary_conditions() -> None:
    """If a pattern matches a text, its derived literal gate must let the text through."""
    rules = PatternBook(None).for_room("#ops")
    patterns = [p for d in rules.detectors.values() for p in (*d.patterns, *d.negative)]
    for text in _texts():
        lower = text.lower()
        for pattern in patterns:
            if pattern.regex.search(text):
                assert may_match(pattern.gate, lower, text.isascii()), (pattern.id, text)


def test_required_substrings_on_simple_shapes() -> None:
    assert required_substrings(re.compile(r"\bfoo(?:bar|baz)\b", re.I)) in ({"foobar", "foobaz"}, {"fooba"}, {"foo"})
    assert required_substrings(re.compile(r"\b(?:alpha|beta)\s+gamma", re.I)) == {"gamma"}
    assert required_substrings(re.compile(r"(?:x)?", re.I)) is None
    gate = gate_regex(frozenset({"down", "outage"}))
    assert may_match(gate, "api is down", True) and not may_match(gate, "all fine", True)
    assert may_match(gate, "ſtrange unicode", False)  # non-ASCII text is never filtered out


def test_extraction_of_a_json_corpus_line_is_stable() -> None:
    line = json.dumps({"body": "merged 5da616f to ledger-worker"})
    assert kinds(json.loads(line)["body"]) == {"commit": ["5da616f"], "service": ["ledger-worker"]}
