"""Secrets of every kind the redactor covers, generated at run time (nothing real is committed), and a scanner.

Each `PlantedSecret` has the text to plant (a secret in its usual setting: an env line, a JSON object,
a PEM block ...) and the values that must never appear anywhere afterwards.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
BASE64 = ALNUM + "/+"


def random_text(alphabet: str, length: int) -> str:
    """`length` random characters of `alphabet`, with at least one digit and one letter when it has both."""
    while True:
        text = "".join(secrets.choice(alphabet) for _ in range(length))
        if not (set(alphabet) & set(string.digits)) or any(c.isdigit() for c in text):
            if any(c.isalpha() for c in text):
                return text


@dataclass(frozen=True)
class PlantedSecret:
    """One secret: its kind, how it is planted in text, and the values that must not survive."""

    kind: str
    text: str
    values: tuple[str, ...]


def _pem_block(label: str) -> tuple[str, tuple[str, ...]]:
    lines = [base64.b64encode(secrets.token_bytes(48)).decode() for _ in range(4)]
    block = f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"
    return block, tuple(line[8:40] for line in lines)


def make_secrets() -> list[PlantedSecret]:
    """One planted secret of every kind (and every quoting of the AWS secret)."""
    aws_key = "AKIA" + random_text(UPPER_DIGITS, 16)
    aws_secrets = [random_text(BASE64, 40) for _ in range(5)]
    password = random_text(ALNUM, 14)
    planted = [
        PlantedSecret("aws-access-key", f"key id {aws_key}", (aws_key,)),
        PlantedSecret("aws-secret-env", f"AWS_SECRET_ACCESS_KEY={aws_secrets[0]}", (aws_secrets[0],)),
        PlantedSecret("aws-secret-shell", f'export AWS_SECRET_ACCESS_KEY="{aws_secrets[1]}"', (aws_secrets[1],)),
        PlantedSecret("aws-secret-json", json.dumps({"aws_secret_access_key": aws_secrets[2]}), (aws_secrets[2],)),
        PlantedSecret("aws-secret-yaml", f"aws_secret_access_key: {aws_secrets[3]}", (aws_secrets[3],)),
        PlantedSecret("aws-secret-single", f"aws_secret_access_key='{aws_secrets[4]}'", (aws_secrets[4],)),
    ]
    github = "ghp_" + random_text(ALNUM, 36)
    github_pat = "github_pat_" + random_text(ALNUM, 22) + "_" + random_text(ALNUM, 59)
    gitlab = "glpat-" + random_text(ALNUM, 20)
    slack = f"xoxb-{secrets.randbelow(10**11)}-{secrets.randbelow(10**12)}-" + random_text(ALNUM, 24).lower()
    stripe = "sk_live_" + random_text(ALNUM, 24)
    stripe_restricted = "rk_live_" + random_text(ALNUM, 24)
    openai_project = "sk-proj-" + random_text(ALNUM, 48)
    openai_legacy = "sk-" + random_text(ALNUM, 48)
    anthropic = "sk-ant-api03-" + random_text(ALNUM, 80)
    google = "AIza" + random_text(ALNUM, 35)
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(json.dumps({"sub": random_text(ALNUM, 12)}).encode()).decode().rstrip("=")
    jwt = f"{header}.{payload}.{random_text(ALNUM, 43)}"
    rsa, rsa_values = _pem_block("RSA PRIVATE KEY")
    ssh, ssh_values = _pem_block("OPENSSH PRIVATE KEY")
    pgp, pgp_values = _pem_block("PGP PRIVATE KEY BLOCK")
    url_password = random_text(ALNUM, 16)
    assignment = {name: random_text(ALNUM, 15) for name in ("password", "passwd", "secret", "token")}
    prose = random_text(ALNUM, 12) + "!"
    planted += [
        PlantedSecret("github-token", f"use {github}", (github,)),
        PlantedSecret("github-pat", f"pat {github_pat}", (github_pat,)),
        PlantedSecret("gitlab-token", f"gitlab {gitlab}", (gitlab,)),
        PlantedSecret("slack-token", f"slack bot {slack}", (slack,)),
        PlantedSecret("stripe-key", f"stripe {stripe}", (stripe,)),
        PlantedSecret("stripe-restricted", f"stripe rk {stripe_restricted}", (stripe_restricted,)),
        PlantedSecret("openai-project", f"openai {openai_project}", (openai_project,)),
        PlantedSecret("openai-legacy", f"openai old {openai_legacy}", (openai_legacy,)),
        PlantedSecret("anthropic-key", f"claude {anthropic}", (anthropic,)),
        PlantedSecret("google-api-key", f"maps {google}", (google,)),
        PlantedSecret("jwt", f"session {jwt}", (jwt, jwt.rsplit(".", 1)[1])),
        PlantedSecret("pem-rsa", rsa, rsa_values),
        PlantedSecret("ssh-key", ssh, ssh_values),
        PlantedSecret("pgp-key", pgp, pgp_values),
        PlantedSecret("url-password", f"postgres://app:{url_password}@db.internal:5432/orders", (url_password,)),
        PlantedSecret("assignments", " ".join(f"{k}={v}" for k, v in assignment.items()),
                      tuple(assignment.values())),
        PlantedSecret("prose-password", f"the root password is {prose}", (prose.rstrip("!"),)),
        PlantedSecret("password-flag", f"psql --password {password}", (password,)),
    ]
    return planted


def all_values(planted: list[PlantedSecret]) -> list[str]:
    """Every value that must not survive."""
    return [value for item in planted for value in item.values]


def hits_in_text(text: str, values: list[str]) -> list[str]:
    """The values found in `text`."""
    return [value for value in values if value in text]


def hits_in_bytes(data: bytes, values: list[str]) -> list[str]:
    """The values found in raw bytes (UTF-8)."""
    return [value for value in values if value.encode() in data]


def scan_database(path: Path, values: list[str]) -> dict[str, list[str]]:
    """Hits per table (every column of every row of every table), then in the raw file and its WAL."""
    import sqlite3

    found: dict[str, list[str]] = {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            try:
                rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            except sqlite3.DatabaseError:  # a virtual table's shadow that cannot be read directly
                continue
            text = "\n".join(repr(row) for row in rows)
            hits = hits_in_text(text, values)
            if hits:
                found[f"table {table}"] = hits
    finally:
        conn.close()
    for suffix in ("", "-wal"):
        file = Path(f"{path}{suffix}")
        if file.exists():
            hits = hits_in_bytes(file.read_bytes(), values)
            if hits:
                found[f"file {file.name}"] = hits
    return found
