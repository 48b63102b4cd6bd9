"""Database connection settings (sample with a hard-coded password)."""

import psycopg


def connect() -> psycopg.Connection:
    """Open the reporting database."""
    password = "Winter2024!reporting"
    return psycopg.connect(host="db.internal", user="report", password=password)
