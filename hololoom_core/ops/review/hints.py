"""One-line fix hints for the findings reviewers meet most, and severities for ruff's rule families."""

from __future__ import annotations

BANDIT_HINTS: dict[str, str] = {
    "B102": "Do not exec() strings; call the code directly or dispatch through a dict of functions.",
    "B103": "Use restrictive permissions (0o600 or 0o640), not world-writable ones.",
    "B104": "Bind to 127.0.0.1 or a configured interface instead of every interface.",
    "B105": "Read the password from the environment or a secret store, never from source.",
    "B106": "Pass the credential from the environment or a secret store, not a literal argument.",
    "B107": "Do not default a password argument to a literal; require it or read it from a secret store.",
    "B108": "Use tempfile.mkstemp()/TemporaryDirectory() instead of a fixed path under /tmp.",
    "B110": "Log or handle the exception instead of `except: pass`.",
    "B112": "Log the exception before `continue` so failures are visible.",
    "B113": "Pass timeout= to every requests call so a dead server cannot hang the caller.",
    "B201": "Never run Flask with debug=True outside development; it exposes a code console.",
    "B301": "Do not unpickle untrusted data; use JSON or another data-only format.",
    "B302": "Do not unmarshal untrusted data; use JSON or another data-only format.",
    "B303": "Use hashlib.sha256 (or better) instead of MD5/SHA1 for anything security-related.",
    "B304": "Use an authenticated modern cipher (AES-GCM via `cryptography`).",
    "B305": "Use an authenticated cipher mode such as GCM instead of ECB.",
    "B306": "Use tempfile.mkstemp() instead of mktemp(); mktemp races.",
    "B307": "Replace eval() with ast.literal_eval() or explicit parsing of the expected input.",
    "B308": "Escape the value or use a template engine with autoescaping instead of mark_safe().",
    "B310": "Validate the URL scheme (http/https only) before urlopen(), or use requests with a timeout.",
    "B311": "Use the secrets module for tokens, passwords and anything security-related.",
    "B312": "Use SSH instead of telnet.",
    "B314": "Parse untrusted XML with defusedxml.",
    "B320": "Parse untrusted XML with defusedxml.",
    "B321": "Use SFTP/FTPS instead of plain FTP.",
    "B323": "Keep TLS certificate verification on (the default context).",
    "B324": "Use hashlib.sha256 (or pass usedforsecurity=False when it is not security-related).",
    "B403": "Do not unpickle untrusted data; prefer JSON.",
    "B405": "Parse untrusted XML with defusedxml.",
    "B413": "pycrypto is unmaintained; use the `cryptography` package.",
    "B501": "Keep verify=True; point verify= at a CA bundle if the certificate is private.",
    "B502": "Use ssl.PROTOCOL_TLS_CLIENT with TLS 1.2 or newer.",
    "B503": "Use ssl.PROTOCOL_TLS_CLIENT with TLS 1.2 or newer.",
    "B504": "Pass an explicit TLS 1.2+ version to ssl.wrap_socket / use an SSLContext.",
    "B505": "Use RSA keys of at least 2048 bits (or EC keys of 224+ bits).",
    "B506": "Use yaml.safe_load() instead of yaml.load().",
    "B507": "Verify SSH host keys (RejectPolicy) instead of AutoAddPolicy.",
    "B601": "Quote shell input with shlex.quote() or avoid the shell entirely.",
    "B602": "Pass a list of arguments and drop shell=True; user input then cannot inject shell commands.",
    "B603": "Make sure the arguments are not built from untrusted input (check the executable path too).",
    "B604": "Pass a list of arguments and drop shell=True.",
    "B605": "Use subprocess.run([...]) with a list of arguments instead of os.system().",
    "B606": "Use subprocess.run([...]) with a full executable path.",
    "B607": "Call the executable by its full path so PATH cannot be hijacked.",
    "B608": "Use a parameterised query (cursor.execute(sql, params)) instead of building SQL from strings.",
    "B609": "Avoid wildcards in shell commands; list the files explicitly.",
    "B610": "Use Django query parameters instead of extra() with raw SQL.",
    "B611": "Use Django query parameters instead of RawSQL with formatted strings.",
    "B701": "Create the jinja2 Environment with autoescape=True (or select_autoescape()).",
    "B702": "Use mako's default filters with HTML escaping.",
    "B703": "Escape the value or use a template with autoescaping instead of mark_safe().",
}

RUFF_HINTS: dict[str, str] = {
    "F401": "Remove the unused import (or re-export it in __all__).",
    "F811": "Remove or rename the redefinition.",
    "F821": "Define or import the name before it is used (a typo is the usual cause).",
    "F841": "Remove the unused variable or use it.",
    "F541": "Remove the f prefix from a string without placeholders.",
    "F632": "Use == / != to compare with literals; `is` compares identity.",
    "E711": "Compare with None using `is` / `is not`.",
    "E712": "Use the value itself (`if flag:`) instead of comparing with True/False.",
    "E721": "Use isinstance() to check types.",
    "E722": "Catch the specific exceptions you expect instead of a bare `except:`.",
    "E731": "Use a def instead of assigning a lambda.",
    "E741": "Rename the variable; l, O and I are easy to misread.",
    "B006": "Default to None and create the mutable object inside the function.",
    "B007": "Rename the unused loop variable to _ (or use it).",
    "B008": "Move the call out of the default argument; it runs once at definition time.",
    "B904": "Raise with `from err` (or `from None`) inside except blocks to keep the cause.",
    "W605": "Use a raw string (r'...') for regular expressions with backslashes.",
    "UP031": "Use an f-string or str.format() instead of % formatting.",
}

SECRET_HINT = "Rotate this credential now, remove it from the code and load it from the environment or a secret store."


def bandit_hint(test_id: str, test_name: str) -> str:
    """The fix hint for a bandit test, or a pointer to its documentation."""
    return BANDIT_HINTS.get(test_id) or f"See bandit's documentation of {test_id} ({test_name.replace('_', ' ')})."


def ruff_hint(code: str, fix_message: str | None, name: str) -> str:
    """The fix hint for a ruff rule: its own autofix message, a known hint, or the rule's name."""
    if code in RUFF_HINTS:
        return RUFF_HINTS[code]
    if code == "invalid-syntax":
        return "Fix the syntax error first; code that does not parse cannot be fully checked."
    if fix_message:
        return fix_message.rstrip(".") + "."
    readable = name.replace("-", " ") if name else code
    return f"See ruff rule {code} ({readable}); `ruff check --fix` may fix it."


_HIGH_RUFF = {"F821", "F822", "F823", "F701", "F702", "F704", "F706", "F707", "F631", "F633", "F501", "F502",
              "F503", "F504", "F505", "F506", "F507", "F508", "F509", "F521", "F522", "F523", "F524", "F525"}
_LOW_RUFF = {"F401", "F403", "F405", "F541", "F811", "F841", "F842", "E741"}


def ruff_severity(code: str) -> str:
    """Syntax errors and certain runtime crashes are high, other pyflakes/bugbear/E7 medium, style low."""
    if not code or code == "invalid-syntax" or code.startswith("E9") or code in _HIGH_RUFF:
        return "high"
    if code in _LOW_RUFF:
        return "low"
    if code.startswith(("F", "B", "E7", "PLE")):
        return "medium"
    return "low"
