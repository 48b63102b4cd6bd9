"""`hololoom doctor` checks for Matrix: homeserver reachable, login accepted, OCR available."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from hololoom_core.config import Config
from hololoom_core.engine.capabilities import CheckResult, DoctorCheck
from hololoom_core.transport.matrix.media import ocr_status

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str, token: str | None = None, timeout: float = 5.0) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        return exc.code, body


async def check_matrix_homeserver(config: Config) -> CheckResult:
    """The homeserver answers `/versions` (skipped when Matrix is not configured)."""
    matrix = config.matrix
    if not matrix.homeserver:
        return CheckResult("matrix", "ok", "not configured (offline mode; see docs/matrix.md to connect)")
    url = f"{matrix.homeserver}/_matrix/client/versions"
    try:
        status, body = await asyncio.to_thread(_get_json, url)
    except (OSError, ValueError) as exc:
        return CheckResult("matrix", "fail", f"{matrix.homeserver} is not reachable ({exc}); check matrix.homeserver")
    if status != 200:
        return CheckResult("matrix", "fail", f"{url} answered HTTP {status}; is this a Matrix homeserver?")
    versions = body.get("versions") if isinstance(body, dict) else None
    latest = versions[-1] if isinstance(versions, list) and versions else "?"
    return CheckResult("matrix", "ok", f"{matrix.homeserver} reachable (spec {latest})")


async def check_matrix_login(config: Config) -> CheckResult:
    """The bot's credentials are accepted (whoami with the token; a password login is tried and logged out)."""
    matrix = config.matrix
    if not matrix.homeserver:
        return CheckResult("matrix login", "ok", "not configured")
    if not matrix.configured:
        return CheckResult("matrix login", "fail", "matrix.homeserver is set but matrix.user_id and "
                           "matrix.access_token or matrix.password are missing")
    from hololoom_core.transport.matrix.session import load_session

    token = matrix.access_token.get_secret_value() if matrix.access_token else None
    saved = load_session(config)
    if token is None and saved is not None and saved.access_token:
        token = saved.access_token
    if token is not None:
        try:
            status, body = await asyncio.to_thread(
                _get_json, f"{matrix.homeserver}/_matrix/client/v3/account/whoami", token
            )
        except (OSError, ValueError) as exc:
            return CheckResult("matrix login", "fail", f"whoami failed ({exc})")
        if status == 200 and body.get("user_id") == matrix.user_id:
            return CheckResult("matrix login", "ok", f"{matrix.user_id} (device {body.get('device_id')})")
        if status == 200:
            return CheckResult("matrix login", "fail", f"the token belongs to {body.get('user_id')}, not "
                               f"{matrix.user_id}; fix matrix.user_id")
        if matrix.password is None:
            return CheckResult("matrix login", "fail", f"the access token was rejected (HTTP {status} "
                               f"{body.get('errcode', '')}); renew matrix.access_token")
    return await _password_login(config)


async def _password_login(config: Config) -> CheckResult:
    """Log in with the password on a throwaway device and log out again."""
    from nio import AsyncClient, LoginResponse

    matrix = config.matrix
    assert matrix.homeserver and matrix.user_id and matrix.password
    client = AsyncClient(matrix.homeserver, matrix.user_id)
    try:
        response = await client.login(matrix.password.get_secret_value(), device_name="hololoom doctor")
        if not isinstance(response, LoginResponse):
            return CheckResult("matrix login", "fail", f"password login refused ({response}); check matrix.password")
        await client.logout()
        return CheckResult("matrix login", "ok", f"{matrix.user_id} (password login works)")
    except Exception as exc:  # connection errors
        return CheckResult("matrix login", "fail", f"password login failed ({type(exc).__name__}: {exc})")
    finally:
        await client.close()


async def check_ocr(config: Config) -> CheckResult:
    """Whether text in images sent to the bot can be read (tesseract)."""
    available, detail = ocr_status()
    if not config.matrix.ocr:
        return CheckResult("ocr", "ok", f"switched off (matrix.ocr: false); {detail}")
    return CheckResult("ocr", "ok" if available else "warn", detail)


# Declared by the Matrix capability; `hololoom doctor` runs them after the core checks.
MATRIX_CHECKS: tuple[DoctorCheck, ...] = (check_matrix_homeserver, check_matrix_login, check_ocr)
