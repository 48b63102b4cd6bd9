"""Logging the bot in: access token or password, a persisted device id, the crypto store and the display name.

The session file (`<data dir>/matrix/session.json`, mode 0600) keeps the device id across restarts, so the
bot stays one device (and keeps its encryption keys); after a password login it also keeps that login's
access token, so a restart does not create a new login each time.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from nio import AsyncClient, AsyncClientConfig, LoginResponse, WhoamiResponse
from nio.crypto import ENCRYPTION_ENABLED

from hololoom_core.config import Config

log = logging.getLogger(__name__)


class MatrixLoginError(Exception):
    """The bot cannot log in; the message is one line naming what was rejected and how to fix it.

    `transient` is True when the homeserver could not be reached (worth retrying), False when it refused.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(slots=True)
class SessionFile:
    """What is kept between runs: whose device this is, and the password login's token."""

    homeserver: str
    user_id: str
    device_id: str
    access_token: str | None = None


def matrix_dir(config: Config) -> Path:
    """Where the transport keeps its files (session, crypto store)."""
    return config.data_dir / "matrix"


def crypto_store_dir(config: Config) -> Path:
    """The directory of matrix-nio's encryption store (olm account, megolm sessions, device trust)."""
    return matrix_dir(config) / "crypto"


def session_path(config: Config) -> Path:
    """The session file."""
    return matrix_dir(config) / "session.json"


def load_session(config: Config) -> SessionFile | None:
    """The saved session for this homeserver and user, if any (a broken file is ignored and logged)."""
    path = session_path(config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        session = SessionFile(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        log.warning("%s: ignoring unreadable session file (%s)", path, exc)
        return None
    if session.homeserver != config.matrix.homeserver or session.user_id != config.matrix.user_id:
        return None
    return session


def save_session(config: Config, session: SessionFile) -> None:
    """Write the session file atomically, readable by the owner only."""
    path = session_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(session), handle, indent=1)
    os.replace(temporary, path)


def crypto_pickle_key(config: Config) -> str:
    """The key that encrypts the crypto store's secrets, kept beside it (created once, mode 0600).

    It lives next to the store rather than in the session file, so deleting the session file (to force a
    fresh login) never makes the stored encryption keys unreadable.
    """
    path = crypto_store_dir(config) / "pickle.key"
    try:
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


def encryption_wanted(config: Config) -> bool:
    """True when the config asks for encryption and matrix-nio's e2e extra (vodozemac) is installed."""
    return bool(config.matrix.encryption and ENCRYPTION_ENABLED)


def build_client(config: Config, *, device_id: str | None, pickle_key: str) -> AsyncClient:
    """A matrix-nio client that fails fast (the transport does its own backoff and 429 handling)."""
    matrix = config.matrix
    assert matrix.homeserver and matrix.user_id
    encrypted = encryption_wanted(config)
    store_dir = crypto_store_dir(config)
    if encrypted:
        store_dir.mkdir(parents=True, exist_ok=True)
    client_config = AsyncClientConfig(
        max_limit_exceeded=0,
        max_timeouts=0,
        request_timeout=30.0,
        encryption_enabled=encrypted,
        store_sync_tokens=False,
        pickle_key=pickle_key or "hololoom",
    )
    return AsyncClient(
        matrix.homeserver,
        matrix.user_id,
        device_id=device_id or "",
        store_path=str(store_dir) if encrypted else "",
        config=client_config,
    )


async def login(config: Config) -> AsyncClient:
    """Log in with the configured access token or password; returns a ready client (crypto store loaded)."""
    matrix = config.matrix
    saved = load_session(config)
    pickle_key = crypto_pickle_key(config)
    if matrix.access_token is not None:
        token = matrix.access_token.get_secret_value()
        client = build_client(config, device_id=matrix.device_id or (saved.device_id if saved else None),
                              pickle_key=pickle_key)
        client.access_token = token
        client.user_id = matrix.user_id or ""
        who = await _whoami(client)
        if not isinstance(who, WhoamiResponse):
            await client.close()
            raise MatrixLoginError(
                f"{matrix.homeserver}: the access token for {matrix.user_id} was rejected ({_describe(who)}); "
                "check matrix.access_token or use matrix.password"
            )
        if who.user_id != matrix.user_id:
            await client.close()
            raise MatrixLoginError(
                f"{matrix.homeserver}: the access token belongs to {who.user_id}, not {matrix.user_id}; "
                "fix matrix.user_id or the token"
            )
        device_id = who.device_id or matrix.device_id or (saved.device_id if saved else None)
        if not device_id:
            await client.close()
            raise MatrixLoginError(
                f"{matrix.homeserver}: the server did not say which device the token belongs to; set matrix.device_id"
            )
        client.restore_login(who.user_id, device_id, token)
        save_session(config, SessionFile(matrix.homeserver or "", who.user_id, device_id, None))
        return client
    assert matrix.password is not None
    if saved is not None and saved.access_token:
        client = build_client(config, device_id=saved.device_id, pickle_key=pickle_key)
        client.access_token = saved.access_token
        client.user_id = saved.user_id
        who = await _whoami(client)
        if isinstance(who, WhoamiResponse) and who.user_id == saved.user_id:
            client.restore_login(saved.user_id, saved.device_id, saved.access_token)
            return client
        await client.close()
        log.info("saved Matrix login is no longer valid; logging in again with the password")
    device_id = (saved.device_id if saved else None) or matrix.device_id
    client = build_client(config, device_id=device_id, pickle_key=pickle_key)
    try:
        response = await client.login(matrix.password.get_secret_value(),
                                      device_name=f"{config.bot.name} bot")
    except Exception as exc:  # aiohttp connection errors, timeouts
        await client.close()
        raise MatrixLoginError(
            f"{matrix.homeserver}: cannot reach the homeserver ({type(exc).__name__}: {exc or 'no answer'}); "
            "check matrix.homeserver and the network",
            transient=True,
        )
    if not isinstance(response, LoginResponse):
        await client.close()
        raise MatrixLoginError(
            f"{matrix.homeserver}: password login for {matrix.user_id} failed ({_describe(response)}); "
            "check matrix.user_id and matrix.password"
        )
    save_session(
        config,
        SessionFile(matrix.homeserver or "", response.user_id, response.device_id, response.access_token),
    )
    return client


async def _whoami(client: AsyncClient) -> object:
    """`whoami`, with connection failures turned into a one-line login error."""
    try:
        return await client.whoami()
    except Exception as exc:  # aiohttp connection errors, timeouts
        await client.close()
        raise MatrixLoginError(
            f"{client.homeserver}: cannot reach the homeserver ({type(exc).__name__}: {exc or 'no answer'}); "
            "check matrix.homeserver and the network",
            transient=True,
        )


def _describe(response: object) -> str:
    status = getattr(response, "status_code", None)
    message = getattr(response, "message", None) or str(response)
    return f"{status}: {message}" if status else str(message)


async def set_display_name(client: AsyncClient, display_name: str) -> bool:
    """Set the bot's display name when it differs; True when it was changed."""
    current = await client.get_displayname(client.user_id)
    if getattr(current, "displayname", None) == display_name:
        return False
    await client.set_displayname(display_name)
    return True
