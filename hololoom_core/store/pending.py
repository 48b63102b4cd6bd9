"""Pending actions: stored messages whose command or answer has not been given yet (resumed after a crash).

Only the engine's pipeline writes this table: `Engine.keep_batch` adds a row in the transaction that
stores the message, and the transaction that stores the replies removes it.
"""

from __future__ import annotations

from hololoom_core.store.db import Store


class PendingActions:
    """Reads and writes the `pending_actions` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_many(self, actions: list[tuple[int, str]], now: float) -> None:
        """Remember that these messages (id, `command` / `question`) still need their action."""
        if actions:
            with self.store.transaction() as conn:
                conn.executemany(
                    "INSERT OR IGNORE INTO pending_actions(message_id, action, created_ts) VALUES (?, ?, ?)",
                    [(message_id, action, now) for message_id, action in actions],
                )

    def clear(self, message_id: int) -> None:
        """Forget a message's action (done, or no longer wanted because the message was redacted)."""
        with self.store.transaction() as conn:
            conn.execute("DELETE FROM pending_actions WHERE message_id = ?", (message_id,))

    def is_pending(self, message_id: int) -> bool:
        """True while the message's action has not been completed."""
        return self.store.scalar("SELECT 1 FROM pending_actions WHERE message_id = ?", (message_id,)) is not None

    def all(self) -> list[tuple[int, str]]:
        """Every pending (message id, action), oldest message first."""
        rows = self.store.query("SELECT message_id, action FROM pending_actions ORDER BY message_id")
        return [(int(row["message_id"]), str(row["action"])) for row in rows]
