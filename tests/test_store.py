"""The SQLite store: migrations, durability, full-text search, redaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hololoom_core.models import ChatMessage
from hololoom_core.store import Store, StoreError, register_migrations
from hololoom_core.store import schema as _schema  # noqa: F401
from hololoom_core.store.db import registered_components
from hololoom_core.store.messages import MessageStore, fts_query


def open_store(path: Path) -> Store:
    store = Store(path)
    store.migrate(["core"])
    return store


def test_migrations_apply_once_and_record_versions(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = open_store(path)
    assert store.schema_versions()["core"] == 3  # v2 indexes new rows in code; v3 adds interactions.details
    assert store.scalar("PRAGMA journal_mode") == "wal"
    store.close()
    again = open_store(path)  # re-opening applies nothing new and keeps data
    assert again.schema_versions()["core"] == 3
    again.close()


def test_component_migrations_are_incremental(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.sqlite3")
    register_migrations("test_widgets", ["CREATE TABLE widgets (id INTEGER PRIMARY KEY)"])
    store.migrate(["core", "test_widgets"])
    store.execute("INSERT INTO widgets(id) VALUES (1)")
    register_migrations(
        "test_widgets",
        ["CREATE TABLE widgets (id INTEGER PRIMARY KEY)", "ALTER TABLE widgets ADD COLUMN name TEXT"],
    )
    versions = store.migrate(["core", "test_widgets"])
    assert versions["test_widgets"] == 2
    assert store.scalar("SELECT count(*) FROM widgets") == 1  # the data survived the upgrade
    assert "test_widgets" in registered_components()
    store.close()


def test_newer_schema_than_code_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.sqlite3")
    store.execute("UPDATE schema_version SET version = 99 WHERE component = 'core'")
    with pytest.raises(StoreError, match="schema version 99"):
        store.migrate(["core"])
    store.close()


def test_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        Store(path)


def test_message_is_committed_when_insert_returns(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = open_store(path)
    stored = MessageStore(store).insert(ChatMessage(room_id="#ops", sender="alice", body="disk full on db-01"), "disk full on db-01")
    assert stored is not None
    other = sqlite3.connect(path)  # a second connection sees it: it is committed, not just buffered
    assert other.execute("SELECT body FROM messages WHERE id = ?", (stored.id,)).fetchone()[0] == "disk full on db-01"
    other.close()
    store.close()


def test_duplicate_event_id_is_ignored(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.sqlite3")
    messages = MessageStore(store)
    message = ChatMessage(room_id="#ops", sender="alice", body="hello", event_id="$abc")
    assert messages.insert(message, "hello") is not None
    assert messages.insert(message, "hello") is None
    assert messages.count() == 1
    store.close()


def test_fts_search_ranks_and_follows_edits_and_redactions(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.sqlite3")
    messages = MessageStore(store)
    first = messages.insert(ChatMessage(room_id="#ops", sender="a", body="postgres replication lag on db-02"), "postgres replication lag on db-02")
    messages.insert(ChatMessage(room_id="#ops", sender="b", body="lunch at noon?"), "lunch at noon?")
    assert first is not None
    hits = messages.search("replication lag")
    assert [hit.message.id for hit in hits] == [first.id]
    messages.update_body(first.id, "certificate renewed", 1.0)
    assert messages.search("replication") == []
    assert [hit.message.id for hit in messages.search("certificate")] == [first.id]
    messages.redact(first.id)
    assert messages.search("certificate") == []
    tombstone = messages.get(first.id)
    assert tombstone is not None and tombstone.redacted
    store.close()


def test_reads_by_id_window_and_kind(tmp_path: Path) -> None:
    store = open_store(tmp_path / "h.sqlite3")
    messages = MessageStore(store)
    assert messages.max_id() == 0 and messages.id_for_event("$none") is None and messages.event_id_of(1) is None
    rows = []
    for n, kind in enumerate(["chat", "reply", "chat", "chat", "chat", "chat"]):
        message = ChatMessage(room_id="#ops", sender="alice", body=f"note {n}", event_id=f"$e{n}", ts=100.0 + n,
                              thread_id="$root" if n == 3 else None)
        stored = messages.insert(message, message.body, kind=kind, is_bot=kind == "reply")
        assert stored is not None
        rows.append(stored)
    ids = [row.id for row in rows]
    messages.redact(ids[2])
    messages.update_body(ids[4], "", 200.0)
    assert messages.max_id() == ids[-1]
    assert messages.id_for_event("$e3") == ids[3] and messages.event_id_of(ids[3]) == "$e3"
    assert messages.count_unredacted_after(0, kind="chat") == 4  # the reply and the redacted one left out
    assert messages.count_unredacted_after(ids[0], kind="chat", until=ids[4]) == 2
    assert messages.count_unredacted_after(ids[0], kind="reply") == 1
    assert messages.nth_id_after(0, kind="chat", offset=0) == ids[0]
    assert messages.nth_id_after(ids[0], kind="chat", offset=1) == ids[3]
    assert messages.nth_id_after(ids[0], kind="chat", offset=4) is None
    assert messages.id_window(0, ids[4], kind="chat", limit=10) == [(ids[0], False), (ids[2], True), (ids[3], False),
                                                                     (ids[4], False)]
    assert messages.id_window(ids[0], ids[-1], kind="chat", limit=2) == [(ids[2], True), (ids[3], False)]
    embeddable = messages.embeddable(list(reversed(ids)))  # redacted and emptied bodies are left out
    assert [row.id for row in embeddable] == [ids[0], ids[1], ids[3], ids[5]]
    third = embeddable[2]
    assert (third.body, third.room_id, third.sender, third.thread_id, third.ts) == ("note 3", "#ops", "alice", "$root",
                                                                                   103.0)
    store.close()


def test_fts_query_neutralises_syntax() -> None:
    query = fts_query('title:"foo" AND -bar*')
    assert query == '"title" OR "foo" OR "bar"'
    assert fts_query("?!") == ""
