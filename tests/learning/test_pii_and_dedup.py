"""The outbound cleaner (secrets + personal data) and the near-duplicate finder, on their own."""

from __future__ import annotations

import pytest

from hololoom_core.learning.cleaning import OutboundCleaner, RedactionLog
from hololoom_core.learning.dedup import NearDuplicates, exact_pairs, jaccard, shingles
from hololoom_core.learning.pii import PiiRedactor

AWS_KEY = "AKIA" + "Q7XK2M4PLR9TZW3B"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("write to dana.lee+ops@corp.example.com today", "email", "dana.lee+ops@corp.example.com"),
        ("call me on +44 20 7946 0958 after 6", "phone", "+44 20 7946 0958"),
        ("pager (415) 555-0199 is mine", "phone", "(415) 555-0199"),
        ("or 415-555-0199 at home", "phone", "415-555-0199"),
        ("the box at 10.20.30.40 is down", "ip", "10.20.30.40"),
        ("v6 address 2001:db8:85a3::8a2e:370:7334 flaps", "ip", "2001:db8:85a3::8a2e:370:7334"),
        ("ask Alice Chen about it", "member-name", "Alice Chen"),
        ("ping @alice:example.org please", "member-name", "@alice:example.org"),
    ],
)
def test_personal_data_is_replaced_and_counted(text: str, kind: str, value: str) -> None:
    redactor = PiiRedactor(members=["Alice Chen", "@alice:example.org"])
    cleaned, counts = redactor.redact(text)
    assert value not in cleaned
    assert f"[REDACTED:{kind}]" in cleaned
    assert counts[kind] == 1


@pytest.mark.parametrize(
    "text",
    [
        "deployed v1.24.3 at 12:30:45 on 2026-12-04, p99 was 350 ms",
        "listen on 127.0.0.1:8080 and 0.0.0.0",
        "INC-4821 sev2: 503s on checkout-api since commit 3f9a2c1",
        "ORA-00060 deadlock, retried 3 times in 1500 ms",
        "std::vector and a::b are not addresses",
        "the ops team owns it",
    ],
)
def test_ordinary_ops_chat_is_left_alone(text: str) -> None:
    cleaned, counts = OutboundCleaner(members=["ops", "Alice Chen"]).clean(text)
    assert cleaned == text
    assert not counts


def test_secrets_go_through_the_shared_redactor_and_are_logged_without_values() -> None:
    cleaner = OutboundCleaner()
    log = RedactionLog()
    text = f"key {AWS_KEY} token {GITHUB_TOKEN} password=hunter2hunter2 mail x@y.example.org"
    cleaned, kinds = cleaner.clean_field(text, "interaction:1", "question", log)
    for secret in (AWS_KEY, GITHUB_TOKEN, "hunter2hunter2", "x@y.example.org"):
        assert secret not in cleaned
    assert "email" in kinds and len(kinds) >= 3
    assert log.records() == 1
    assert all(entry.record == "interaction:1" for entry in log.entries)
    assert AWS_KEY not in repr([entry.as_dict() for entry in log.entries])


def test_markers_already_present_are_not_counted_again() -> None:
    cleaned, counts = OutboundCleaner().clean("it was [REDACTED:password] before")
    assert cleaned == "it was [REDACTED:password] before"
    assert not counts


def test_near_duplicates_cluster_and_match_the_brute_force_pairs() -> None:
    base = ["why is checkout-api returning 500s since the deploy?", "disk is full on db-7, what do I delete first?",
            "how do I rotate the TLS certificate of the ingress?", "queue backlog on orders-worker keeps growing"]
    texts = []
    for text in base:
        texts += [text, text.upper(), text + "!", "  " + text.replace(" ", "  ")]
    texts.append("something else entirely about dns resolution timeouts")
    result = NearDuplicates(threshold=0.8).find(texts)
    assert len(result.clusters) == len(base) + 1
    assert result.pairs == exact_pairs(texts, 0.8)
    assert all(jaccard(shingles(texts[i]), shingles(texts[j])) >= 0.8 for i, j in result.pairs)


def test_short_and_empty_texts_do_not_break_dedup() -> None:
    result = NearDuplicates().find(["", "ok", "ok", "hi"])
    assert [0] in result.clusters
    assert any(cluster == [1, 2] for cluster in result.clusters)


def test_the_shipped_schema_rejects_a_record_without_provenance() -> None:
    from hololoom_core.learning.export import validation_errors

    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                {"role": "assistant", "content": "a"}]
    record: dict[str, object] = {"messages": messages, "metadata": {"source": "interaction"}}
    errors = validation_errors(record, "train_record")
    assert errors and all(line.startswith("metadata") for line in errors)
    messages[2]["role"] = "user"
    assert any(line.startswith("messages/2/role") for line in validation_errors(record, "train_record"))
