"""A throwaway, real Synapse homeserver for tests and benchmarks.

``SynapseServer`` writes a minimal config (SQLite, one plain-HTTP listener on
127.0.0.1, all rate limits raised, logging at WARNING) into a fresh directory
(on ``/dev/shm`` when possible, which makes SQLite commits cheap), launches
``python -m synapse.app.homeserver`` as a child process and registers users
through the shared-secret admin registration API.

Only the standard library is used here; Synapse itself must be importable by
the interpreter that launches it (``sys.executable`` by default).

Example::

    with SynapseServer() as hs:
        user_id, token, device_id = hs.register_user("alice", "secret")
        ...  # point a Matrix client at hs.base_url
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

__all__ = [
    "RATE_LIMIT_KEYS",
    "MatrixUser",
    "RegisteredUser",
    "SynapseError",
    "SynapseServer",
    "SynapseStartError",
    "free_port",
    "synapse_available",
]

#: A rate limit that is never reached in tests (events per second / burst).
_UNLIMITED: dict[str, float] = {"per_second": 100_000, "burst_count": 100_000}

#: Every rate-limit key read by ``synapse/config/ratelimiting.py`` in Synapse
#: 1.163 (dotted names are nested).  Synapse does not reject unknown keys, so
#: this list was checked against that file; ``rc_federation`` is left out
#: because there is no federation listener.
RATE_LIMIT_KEYS: tuple[str, ...] = (
    "rc_message",
    "rc_registration",
    "rc_registration_token_validity",
    "rc_login.address",
    "rc_login.account",
    "rc_login.failed_attempts",
    "rc_admin_redaction",
    "rc_joins.local",
    "rc_joins.remote",
    "rc_joins_per_room",
    "rc_key_requests",
    "rc_3pid_validation",
    "rc_invites.per_room",
    "rc_invites.per_user",
    "rc_invites.per_issuer",
    "rc_third_party_invite",
    "rc_media_create",
    "rc_presence.per_user",
    "rc_delayed_event_mgmt",
    "rc_room_creation",
    "rc_reports",
    "rc_user_directory",
    "rc_profile",
)

#: Talks to 127.0.0.1 directly even when http_proxy/HTTP_PROXY are set.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_LOG_FORMAT = "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"


class SynapseError(RuntimeError):
    """Raised when the homeserver or one of its admin API calls fails."""


class SynapseStartError(SynapseError):
    """Raised when Synapse does not become ready; the message ends with the log tail."""


class RegisteredUser(NamedTuple):
    """A user created with :meth:`SynapseServer.register_user` (unpacks as a 3-tuple)."""

    user_id: str
    access_token: str
    device_id: str


@dataclass(frozen=True)
class MatrixUser:
    """A registered account with its password, for tests and benchmarks that log in again."""

    user_id: str
    password: str
    access_token: str
    device_id: str
    localpart: str


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on ``host`` that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def synapse_available(python: str | None = None) -> bool:
    """Tell whether ``python`` (default: this interpreter) can import ``synapse.app.homeserver``."""
    if python is None or os.path.realpath(python) == os.path.realpath(sys.executable):
        import importlib.util

        try:
            return importlib.util.find_spec("synapse.app.homeserver") is not None
        except (ImportError, ValueError):
            return False
    result = subprocess.run(
        [python, "-c", "import importlib.util as u; raise SystemExit(u.find_spec('synapse') is None)"],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0


def _default_parent_dir() -> str | None:
    """Return ``/dev/shm`` when it is a writable directory, else ``None`` (system temp)."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _nest(config: dict[str, Any], dotted: str, value: object) -> None:
    """Set ``config["a"]["b"] = value`` for ``dotted == "a.b"``."""
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    """Merge ``extra`` into ``base`` in place, recursing into nested dicts."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = value


def _tail(path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of a text file, or a note if it is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<{path.name}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


_LIVE: weakref.WeakSet[SynapseServer] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    """Stop servers still running at interpreter exit so no Synapse outlives its test run."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):  # best effort at exit
            server.stop(grace=2.0)


class SynapseServer:
    """A real Synapse homeserver in a private directory, for tests and benchmarks."""

    def __init__(
        self,
        *,
        server_name: str = "localhost",
        port: int | None = None,
        parent_dir: str | os.PathLike[str] | None = None,
        keep: bool = False,
        python: str | None = None,
        log_level: str = "WARNING",
        max_upload_size: str = "50M",
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        """Configure (but do not start) a server; ``extra_config`` is deep-merged last."""
        self._server_name = server_name
        self._port = port
        self._parent_dir = str(parent_dir) if parent_dir is not None else _default_parent_dir()
        self.keep = keep
        self._python = python or sys.executable
        self._log_level = log_level
        self._max_upload_size = max_upload_size
        self._extra_config = extra_config or {}
        self._auto_port = port is None
        self._shared_secret = secrets.token_urlsafe(32)
        self._macaroon_secret = secrets.token_urlsafe(32)
        self._form_secret = secrets.token_urlsafe(32)
        self._data_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._stdout_file: Any = None
        #: Seconds the last ``start()`` took until ``/versions`` answered.
        self.last_start_seconds: float | None = None

    # ------------------------------------------------------------------ props
    @property
    def server_name(self) -> str:
        """The Matrix server name (the part after ``:`` in user IDs)."""
        return self._server_name

    @property
    def port(self) -> int:
        """The HTTP port (chosen on first start unless given)."""
        if self._port is None:
            raise SynapseError("port is not chosen before start()")
        return self._port

    @property
    def base_url(self) -> str:
        """The client-server API base URL, e.g. ``http://127.0.0.1:34567``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        """The directory holding config, keys, SQLite database, media and logs."""
        if self._data_dir is None:
            raise SynapseError("data_dir does not exist before start()")
        return self._data_dir

    @property
    def config_path(self) -> Path:
        """Path of the generated ``homeserver.yaml``."""
        return self.data_dir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        """Path of Synapse's own log file (WARNING and above by default)."""
        return self.data_dir / "homeserver.log"

    @property
    def registration_shared_secret(self) -> str:
        """The shared secret for the admin registration API."""
        return self._shared_secret

    @property
    def running(self) -> bool:
        """True while the Synapse child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The Synapse process id while it runs."""
        return self._proc.pid if self.running and self._proc is not None else None

    # ----------------------------------------------------------------- config
    def build_config(self) -> dict[str, Any]:
        """Return the homeserver config as a dict (written as JSON, which is valid YAML)."""
        d = self.data_dir
        config: dict[str, Any] = {
            "server_name": self._server_name,
            "public_baseurl": self.base_url + "/",
            "pid_file": str(d / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    # "client" also mounts /_synapse/admin and the media repo
                    # (/_matrix/media and /_matrix/client/v1/media).
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(d / "homeserver.db")}},
            "log_config": str(d / "log.config"),
            "signing_key_path": str(d / "signing.key"),
            "media_store_path": str(d / "media_store"),
            "registration_shared_secret": self._shared_secret,
            "macaroon_secret_key": self._macaroon_secret,
            "form_secret": self._form_secret,
            "enable_registration": False,
            "report_stats": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "presence": {"enabled": False},
            "url_preview_enabled": False,
            "enable_authenticated_media": True,
            "max_upload_size": self._max_upload_size,
            "enable_metrics": False,
            # bcrypt's minimum cost: registration and password login take
            # ~0.3 s each with Synapse's default of 12 rounds.
            "bcrypt_rounds": 4,
        }
        for key in RATE_LIMIT_KEYS:
            _nest(config, key, dict(_UNLIMITED))
        _deep_merge(config, self._extra_config)
        return config

    def _log_config(self) -> dict[str, Any]:
        """Return a ``logging.config.dictConfig`` that writes to ``homeserver.log``."""
        return {
            "version": 1,
            "formatters": {"precise": {"format": _LOG_FORMAT}},
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter", "request": ""}},
            "handlers": {
                "file": {
                    "class": "logging.FileHandler",
                    "formatter": "precise",
                    "filters": ["context"],
                    "filename": str(self.log_path),
                    "encoding": "utf8",
                }
            },
            "root": {"level": self._log_level, "handlers": ["file"]},
            "disable_existing_loggers": False,
        }

    def _write_signing_key(self) -> None:
        """Write an ed25519 signing key in Synapse's format (what ``--generate-keys`` does).

        The file holds ``ed25519 <key id> <unpadded base64 of the 32-byte seed>``;
        writing it directly saves a ~1 s Synapse launch.
        """
        key_id = "a_" + "".join(secrets.choice(string.ascii_letters) for _ in range(4))
        seed = base64.b64encode(os.urandom(32)).decode("ascii").rstrip("=")
        path = self.data_dir / "signing.key"
        path.write_text(f"ed25519 {key_id} {seed}\n", encoding="ascii")
        path.chmod(0o600)

    def _prepare(self) -> None:
        """Create the data directory, config, log config and signing key if missing."""
        if self._port is None:
            self._port = free_port()
        if self._data_dir is None or not self._data_dir.exists():
            self._data_dir = Path(tempfile.mkdtemp(prefix="hololoom-synapse-", dir=self._parent_dir))
        (self.data_dir / "media_store").mkdir(exist_ok=True)
        if not (self.data_dir / "signing.key").exists():
            self._write_signing_key()
        (self.data_dir / "log.config").write_text(json.dumps(self._log_config(), indent=1))
        if not self.config_path.exists():
            self.config_path.write_text(json.dumps(self.build_config(), indent=1))

    # -------------------------------------------------------------- lifecycle
    def start(self, timeout: float = 30.0) -> SynapseServer:
        """Launch Synapse and block until ``GET /_matrix/client/versions`` answers.

        If the port was picked automatically and another process grabbed it in
        the meantime, one more attempt is made on a new port.
        """
        if self.running:
            return self
        began = time.monotonic()
        deadline = began + timeout
        self._prepare()
        for attempt in (1, 2):
            self._launch()
            problem = self._wait_ready(deadline)
            if problem is None:
                break
            if (
                attempt == 1
                and self._auto_port
                and "Address already in use" in _tail(self.data_dir / "stdout.log")
                and time.monotonic() < deadline
            ):
                self._terminate(grace=2.0)
                self._port = free_port()
                self.config_path.write_text(json.dumps(self.build_config(), indent=1))
                continue
            self._fail(problem)
        self.last_start_seconds = time.monotonic() - began
        return self

    def _launch(self) -> None:
        """Spawn ``python -m synapse.app.homeserver`` with output going to ``stdout.log``."""
        self._stdout_file = open(self.data_dir / "stdout.log", "ab")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [self._python, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout_file,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
            start_new_session=True,  # a Ctrl-C in the terminal does not hit it first
        )
        _LIVE.add(self)

    def _wait_ready(self, deadline: float) -> str | None:
        """Poll ``/versions`` until it answers (``None``) or return why it never will."""
        assert self._proc is not None
        url = self.base_url + "/_matrix/client/versions"
        while True:
            code = self._proc.poll()
            if code is not None:
                return f"Synapse exited with code {code} during start-up"
            try:
                with _OPENER.open(url, timeout=2.0) as resp:
                    if resp.status == 200:
                        return None
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                return "Synapse was not ready in time"
            time.sleep(0.05)

    def _fail(self, reason: str) -> None:
        """Kill the child, then raise :class:`SynapseStartError` with both log tails.

        The directory is deleted (the tails are in the message) unless ``keep``.
        """
        self._terminate(grace=2.0)
        d = self.data_dir
        message = (
            f"{reason} (dir {d}{'' if self.keep else ', now deleted'}, port {self._port}).\n"
            f"--- homeserver.log (tail) ---\n{_tail(d / 'homeserver.log')}\n"
            f"--- stdout.log (tail) ---\n{_tail(d / 'stdout.log')}"
        )
        self.stop()
        raise SynapseStartError(message)

    def _terminate(self, grace: float) -> None:
        """Send SIGTERM, wait up to ``grace`` seconds, then SIGKILL; close the stdout log."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._proc = None
        _LIVE.discard(self)
        if self._stdout_file is not None:
            self._stdout_file.close()
            self._stdout_file = None

    def stop(self, grace: float = 10.0) -> None:
        """Stop Synapse (SIGTERM, SIGKILL after ``grace`` s); delete the directory unless ``keep``."""
        self._terminate(grace)
        if not self.keep and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    def restart(self, timeout: float = 30.0, grace: float = 10.0) -> SynapseServer:
        """Stop and start again on the same port with the same data (``keep`` is ignored)."""
        self._terminate(grace)
        return self.start(timeout=timeout)

    def __enter__(self) -> SynapseServer:
        """Start the server (if not running) for a ``with`` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server when the ``with`` block ends."""
        self.stop()

    def __repr__(self) -> str:
        """Show the URL, directory and state."""
        state = "running" if self.running else "stopped"
        return f"<SynapseServer {self._server_name} port={self._port} dir={self._data_dir} {state}>"

    # ------------------------------------------------------------------ users
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Make a JSON request against the server; raise :class:`SynapseError` on HTTP errors."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with _OPENER.open(req, timeout=30.0) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", errors="replace")
            raise SynapseError(f"{method} {path} -> HTTP {exc.code}: {detail}") from exc

    def register_user(self, localpart: str, password: str, admin: bool = False) -> RegisteredUser:
        """Create a user through the shared-secret admin API; returns (user_id, token, device_id)."""
        path = "/_synapse/admin/v1/register"
        nonce = self._request("GET", path)["nonce"]
        mac = hmac.new(self._shared_secret.encode("utf-8"), digestmod=hashlib.sha1)
        for part in (nonce, localpart, password):
            mac.update(part.encode("utf-8"))
            mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        reply = self._request(
            "POST",
            path,
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        return RegisteredUser(reply["user_id"], reply["access_token"], reply["device_id"])

    def create_user(self, localpart: str, password: str, admin: bool = False) -> MatrixUser:
        """Like :meth:`register_user` but returns a :class:`MatrixUser` that keeps the password."""
        user_id, token, device_id = self.register_user(localpart, password, admin=admin)
        return MatrixUser(user_id, password, token, device_id, localpart)

    async def register_user_async(self, localpart: str, password: str, admin: bool = False) -> RegisteredUser:
        """Like :meth:`register_user` but runs in a worker thread (for use inside event loops)."""
        return await asyncio.to_thread(self.register_user, localpart, password, admin)
