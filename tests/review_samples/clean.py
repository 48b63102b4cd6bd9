"""User lookup done right: parameterised SQL, no shell, secrets from the environment."""

import os
import sqlite3
import subprocess


def database_path() -> str:
    """Where the database lives, from the environment."""
    return os.environ.get("APP_DB", "app.sqlite3")


def find_user(conn: sqlite3.Connection, name: str) -> list[tuple[str, ...]]:
    """Return the rows of the user with this name."""
    return conn.execute("SELECT id, email FROM users WHERE name = ?", (name,)).fetchall()


def archive(directory: str) -> int:
    """Tar a directory without a shell."""
    return subprocess.run(["/usr/bin/tar", "czf", "/backups/out.tgz", "--", directory], check=False).returncode
