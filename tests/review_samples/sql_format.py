"""User lookup (sample that builds SQL by string formatting)."""

import sqlite3


def find_user(conn: sqlite3.Connection, name: str) -> list[tuple[str, ...]]:
    """Return the rows of the user with this name."""
    query = "SELECT id, email FROM users WHERE name = '%s'" % name
    return conn.execute(query).fetchall()
