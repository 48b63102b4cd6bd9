"""Secret redaction applied before anything is stored or shown: keys, tokens, passwords and private keys.

Two sources of rules: detect-secrets' regex plugins (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, JWT,
SendGrid, npm, PyPI, Azure, Square, Twilio, Telegram, Discord, Mailchimp, basic auth ...), whose
patterns are compiled with RE2, and HoloLoom's own rules where detect-secrets has none or only matches
part of a secret (PEM/PGP/SSH key blocks as a whole, AWS secrets in every quoting, Anthropic and newer
OpenAI keys, Google API keys, bearer and Matrix tokens, `key = value` assignments, passwords in URLs and
"the root password is ..." in prose). Every rule runs on RE2, so the work is linear in the text's length.

A rule runs only when one of its literals occurs in the text (one Aho-Corasick pass over the lower-cased
text); most chat has none and is returned untouched. detect-secrets itself (~150 ms to import) is loaded
the first time one of its rules is needed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import ahocorasick

from hololoom_core.text.clean import clean_text
from hololoom_core.text.linear import LinearRegexError, compile_linear

_PLACEHOLDER = "[REDACTED:"


@dataclass(frozen=True, slots=True)
class Rule:
    """One secret pattern: its kind, the literals (lower case) one of which it needs, and what to hide.

    `group` 0 hides the whole match; -1 hides the first capture group that took part (for patterns whose
    alternatives capture the value in different groups) and keeps the label around it readable.
    """

    kind: str
    pattern: str
    triggers: tuple[str, ...]
    group: int = 0
    ignore_case: bool = False
    stopwords: frozenset[str] = frozenset()


# Words that follow "the password is" in ordinary talk about passwords; they are not the password.
_PROSE_STOPWORDS = frozenset("""
a an the in on at of to for from by with as into onto not no now still also just only already again being
been being wrong incorrect correct expired expiring invalid valid stored saved set reset changed changing
rotated rotating required missing empty blank same different weak strong too very long short case
this that it its my your our their his her whose which what whatever unknown fine ok okay visible shown
leaked compromised known available managed kept hidden secret encrypted hashed taped written listed
going should must and or but like behind inside out up down broken locked disabled enabled correct
there here somewhere where in the vault 1password bitwarden lastpass vault keychain please
""".split())

_KEY_WORDS = (
    r"password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|"
    r"private[_-]?key|client[_-]?secret|credentials?|session[_-]?token|auth[_-]?token"
)
_VALUE = r"""(?:"([^"\n]{3,512})"|'([^'\n]{3,512})'|([^\s"'`,;)}\]<>]{3,512}))"""

# HoloLoom's own rules, first in the order kinds are reported; a secret matched by several rules is
# reported under the first.
_OWN_RULES: tuple[Rule, ...] = (
    Rule("private-key",
         r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)"
         r"(?:-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----|\z)",
         ("private key",)),
    Rule("private-key", r"PuTTY-User-Key-File-\d+:(?s:.*?)(?:Private-MAC: *[0-9a-fA-F]+|\z)", ("putty-user-key",)),
    Rule("aws-access-key", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[0-9A-Z]{16}\b", ("akia", "asia", "abia", "acca", "a3t")),
    Rule("aws-secret-key",
         r"(?:aws[ _-]?)?secret[ _-]?(?:access[ _-]?)?key(?:[ _-]?id)?[\"']?\s*(?::=|=>|[:=])?\s*"
         r"[\"']?([A-Za-z0-9/+=]{40})(?:[^A-Za-z0-9/+=]|\z)",
         ("secret_access", "secretaccess", "secret access", "secret-access", "secret_key", "secret key",
          "secretkey", "secret-key"), group=1, ignore_case=True),
    Rule("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9_]{30,255}|github_pat_[A-Za-z0-9_]{40,255})",
         ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")),
    Rule("gitlab-token", r"\b(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-[A-Za-z0-9_-]{20,255}",
         ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-")),
    Rule("slack-token", r"\bxox[abposr]-[A-Za-z0-9-]{10,255}", ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-")),
    Rule("stripe-key", r"\b[rsp]k_(?:live|test)_[0-9a-zA-Z]{16,255}", ("k_live_", "k_test_")),
    Rule("anthropic-key", r"\bsk-ant-[A-Za-z0-9_-]{20,255}", ("sk-ant-",)),
    Rule("openai-key", r"\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{20,255}", ("sk-proj-", "sk-svcacct-", "sk-admin-", "sk-none-")),
    Rule("openai-key", r"\bsk-[A-Za-z0-9]{32,255}\b", ("sk-",)),
    Rule("google-api-key", r"\bAIza[0-9A-Za-z_-]{35}", ("aiza",)),
    Rule("jwt", r"\beyJ[A-Za-z0-9_-]{5,1000}\.eyJ[A-Za-z0-9_-]{2,1000}\.[A-Za-z0-9_-]{0,1000}", ("eyj",)),
    Rule("matrix-token", r"\b(?:syt|syr|mct)_[A-Za-z0-9_]{10,255}", ("syt_", "syr_", "mct_")),
    Rule("bearer-token", r"\bbearer\s+([A-Za-z0-9._~+/-]{20,1000}=*)", ("bearer",), group=1, ignore_case=True),
    Rule("basic-auth", r"\bbasic\s+([A-Za-z0-9+/]{12,1000}={0,2})", ("basic",), group=1, ignore_case=True),
    Rule("url-password", r"\b[a-z][a-z0-9+.-]{0,31}://[^\s:/@]{1,256}:([^\s@/]{1,256})@", ("://",), group=1,
         ignore_case=True),
    Rule("password",
         r"(?:" + _KEY_WORDS + r")[\"']?\s*(?::=|=>|[:=])\s*" + _VALUE,
         ("passw", "pwd", "passphrase", "secret", "token", "api_key", "api-key", "apikey", "access_key",
          "access-key", "accesskey", "secret_key", "secret-key", "secretkey", "private_key", "private-key",
          "privatekey", "credential"),
         group=-1, ignore_case=True),
    Rule("password", r"--(?:password|passwd|token|secret|api-key|access-key)[ \t]+" + _VALUE,
         ("--passw", "--token", "--secret", "--api-key", "--access-key"), group=-1, ignore_case=True),
    Rule("password",
         r"\b(?:password|passphrase|passwd|passcode|pin code)(?:\s+(?:for|of|on)\s+[\w@.:/-]{1,64})?\s+"
         r"(?:is|was|will be|remains|=|:)\s+[\"'`]?([^\s\"'`]{3,128})",
         ("password", "passphrase", "passwd", "passcode", "pin code"), group=1, ignore_case=True,
         stopwords=_PROSE_STOPWORDS),
)

# detect-secrets' regex plugins used, with our kind name, the literals one of their patterns needs, and
# which part to hide (group 1 of the AWS secret, basic-auth, Cloudant and SoftLayer patterns is the value).
# Plugins left out: keyword and high-entropy (code-oriented, commit ids would be hidden; our `password`
# rules cover assignments), IP addresses (not secrets), and the IBM keyword plugins (lookbehinds RE2
# cannot run; their `*_password = ...` forms are our `password` rule).
_DETECT_SECRETS_PLUGINS: dict[str, tuple[str, tuple[str, ...], int]] = {
    "AWSKeyDetector": ("aws-access-key", ("akia", "asia", "abia", "acca", "a3t", "aws"), 0),
    "AzureStorageKeyDetector": ("azure-storage-key", ("accountkey=",), 0),
    "BasicAuthDetector": ("url-password", ("://",), 1),
    "CloudantDetector": ("cloudant-password", ("cloudant.com",), 1),
    "DiscordBotTokenDetector": ("discord-token", (), 0),
    "GitHubTokenDetector": ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), 0),
    "GitLabTokenDetector": ("gitlab-token", ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "gr1348941", "glcbt-",
                                             "glimt-", "glptt-", "glagent-", "gloas-"), 0),
    "JwtTokenDetector": ("jwt", ("eyj",), 0),
    "MailchimpDetector": ("mailchimp-key", (), 0),
    "NpmDetector": ("npm-token", ("_authtoken",), 0),
    "OpenAIDetector": ("openai-key", ("t3blbkfj",), 0),
    "PypiTokenDetector": ("pypi-token", ("pypi-",), 0),
    "SendGridDetector": ("sendgrid-key", ("sg.",), 0),
    "SlackDetector": ("slack-token", ("xox", "hooks.slack.com"), 0),
    "SoftlayerDetector": ("softlayer-key", ("softlayer.com",), 1),
    "SquareOAuthDetector": ("square-token", ("sq0csp-",), 0),
    "StripeDetector": ("stripe-key", ("k_live_",), 0),
    "TelegramBotTokenDetector": ("telegram-token", (), 0),
    "TwilioKeyDetector": ("twilio-key", (), 0),
}
_DS_GROUP_AWS_SECRET = 1  # AWSKeyDetector's second pattern captures the 40-character secret in group 1

SECRET_KINDS: tuple[str, ...] = tuple(dict.fromkeys(
    [rule.kind for rule in _OWN_RULES] + [kind for kind, _, _ in _DETECT_SECRETS_PLUGINS.values()]
))


@dataclass(slots=True)
class _Compiled:
    kind: str
    regex: Any
    group: int
    stopwords: frozenset[str]
    order: int


@functools.cache
def _own_rule(index: int) -> _Compiled:
    """Our rule number `index`, compiled on first use (start-up pays for none of them)."""
    rule = _OWN_RULES[index]
    return _Compiled(rule.kind, compile_linear(rule.pattern, ignore_case=rule.ignore_case), rule.group,
                     rule.stopwords, index)


def _re2_source(pattern: re.Pattern[str]) -> tuple[str, bool] | None:
    """A detect-secrets pattern rewritten for RE2 (same matches), or None when RE2 cannot express it."""
    if pattern.flags & re.VERBOSE and any(char.isspace() for char in pattern.pattern):
        return None
    source = pattern.pattern.replace("(?!\\w)", "")  # a greedy bounded run already stops at a non-word
    source = re.sub(r"\{(\d+),(\d{4,})\}", lambda m: "{" + m.group(1) + ",1000}", source)  # RE2's maximum
    if "(?<" in source or "(?=" in source or "(?!" in source or re.search(r"\\\d", source):
        return None
    return source, bool(pattern.flags & re.IGNORECASE)


@functools.cache
def _detect_secrets_rules() -> dict[str, list[_Compiled]]:
    """detect-secrets' plugin patterns compiled with RE2, by plugin name (imported on first use)."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugins: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    by_name: dict[str, Any] = {plugin.__name__: plugin for plugin in plugins}
    rules: dict[str, list[_Compiled]] = {}
    base = len(_OWN_RULES)
    for offset, (name, (kind, _triggers, group)) in enumerate(_DETECT_SECRETS_PLUGINS.items()):
        plugin = by_name.get(name)
        if plugin is None:  # a detect-secrets release without this plugin
            continue
        for index, pattern in enumerate(plugin.denylist):
            converted = _re2_source(pattern)
            if converted is None:
                continue
            source, ignore_case = converted
            try:
                regex = compile_linear(source, ignore_case=ignore_case)
            except LinearRegexError:
                continue
            rule_group = _DS_GROUP_AWS_SECRET if name == "AWSKeyDetector" and index == 1 else group
            if rule_group > regex.groups:
                rule_group = 0
            rules.setdefault(name, []).append(_Compiled(kind, regex, rule_group, frozenset(), base + offset))
    return rules


def detect_secrets_coverage() -> dict[str, int]:
    """How many of each used detect-secrets plugin's patterns run (on RE2), by plugin name."""
    return {name: len(rules) for name, rules in _detect_secrets_rules().items()}


_AUTOMATON = ahocorasick.Automaton()
_TRIGGERS: dict[str, list[tuple[str, int]]] = {}  # literal -> [("own", rule index) | ("ds", plugin index)]
for _index, _rule in enumerate(_OWN_RULES):
    for _literal in _rule.triggers:
        _TRIGGERS.setdefault(_literal, []).append(("own", _index))
_DS_NAMES = list(_DETECT_SECRETS_PLUGINS)
for _plugin_index, (_kind, _literals, _group) in enumerate(_DETECT_SECRETS_PLUGINS.values()):
    for _literal in _literals:
        _TRIGGERS.setdefault(_literal, []).append(("ds", _plugin_index))
for _literal in _TRIGGERS:
    _AUTOMATON.add_word(_literal, _literal)
_AUTOMATON.make_automaton()

# Plugins without a literal of their own (Discord, Mailchimp, Telegram, Twilio: every pattern needs a
# run of 20+ token characters) run when the text has such a run, which plain chat rarely has. (A fixed
# count, so the backtracking engine does at most 20 steps per position: linear.)
_RUN_GATED = frozenset(index for index, (_kind, literals, _group) in enumerate(_DETECT_SECRETS_PLUGINS.values())
                       if not literals)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_-]{20}")


def _triggered(text: str) -> tuple[set[int], set[int]]:
    """Indices of the own rules and detect-secrets plugins whose literals occur in `text`."""
    own: set[int] = set()
    plugins: set[int] = set()
    literals = {literal for _end, literal in _AUTOMATON.iter(text.lower())}
    for literal in literals:
        for source, index in _TRIGGERS[literal]:
            (own if source == "own" else plugins).add(index)
    if len(text) >= 20 and max(map(len, text.split()), default=0) >= 20 and _LONG_TOKEN.search(text) is not None:
        plugins |= _RUN_GATED  # (a word of 20+ characters first: a C-speed test that most chat fails)
    return own, plugins


def may_have_secret(text: str) -> bool:
    """True when some redaction rule could match `text` (one C pass; False for most chat)."""
    own, plugins = _triggered(text)
    return bool(own or plugins)


class RedactionResult(NamedTuple):
    """Redacted text and the kinds of secret that were removed."""

    text: str
    kinds: tuple[str, ...]


_PLACEHOLDER_BYTES = _PLACEHOLDER.encode()
_PLACEHOLDER_AT_BYTES = re.compile(rb"\[REDACTED:[a-z0-9-]{1,40}\]")
_TRIM = b".,;:!?)]}'\"` "


def _spans(data: bytes, rules: Iterable[_Compiled]) -> list[tuple[int, int, int, str]]:
    """(start, end, rule order, kind) of every secret the rules find, as UTF-8 byte offsets."""
    found: list[tuple[int, int, int, str]] = []
    for rule in rules:
        for match in rule.regex.finditer(data):
            if rule.group == -1:
                group = next((g for g in range(1, rule.regex.groups + 1) if match.start(g) >= 0), 0)
            else:
                group = rule.group
            start, end = match.span(group)
            if start < 0 or end <= start:
                continue
            if rule.stopwords and data[start:end].decode("utf-8", "replace").lower().strip(".,;:!?)") \
                    in rule.stopwords:
                continue
            start = _after_placeholders(data, start, end)
            if end - start < 3:
                continue
            found.append((start, end, rule.order, rule.kind))
    return found


def _after_placeholders(data: bytes, start: int, end: int) -> int:
    """Where a found span starts once the placeholders of an earlier redaction at its start are skipped."""
    while data.startswith(_PLACEHOLDER_BYTES, start):
        placeholder = _PLACEHOLDER_AT_BYTES.match(data, start)
        if placeholder is None:
            break
        start = placeholder.end()
    if start >= end or data[start:end].strip(_TRIM) == b"":
        return end
    return start


def redact_secrets(text: str) -> RedactionResult:
    """Replace secrets in `text` by `[REDACTED:kind]`, keeping labels like `password=` readable.

    The text is cleaned first (lone surrogates become U+FFFD), so the result can always be stored.
    Redacting redacted text changes nothing.
    """
    text = clean_text(text)
    own, plugins = _triggered(text)
    if not own and not plugins:
        return RedactionResult(text, ())
    rules: list[_Compiled] = [_own_rule(index) for index in sorted(own)]
    if plugins:
        by_plugin = _detect_secrets_rules()
        for index in sorted(plugins):
            rules.extend(by_plugin.get(_DS_NAMES[index], ()))
    data = text.encode("utf-8")  # RE2 matches bytes; encoding once saves it doing so for every rule
    spans = _spans(data, rules)
    if not spans:
        return RedactionResult(text, ())
    spans.sort(key=lambda span: (span[0], span[2]))
    pieces: list[bytes] = []
    kinds: dict[int, str] = {}
    position = 0
    current_start, current_end, current_order, current_kind = spans[0]
    for start, end, order, kind in spans[1:]:
        if start < current_end:  # overlapping secrets are hidden as one, under the first rule's kind
            current_end = max(current_end, end)
            continue
        pieces += [data[position:current_start], f"[REDACTED:{current_kind}]".encode()]
        kinds.setdefault(current_order, current_kind)
        position = current_end
        current_start, current_end, current_order, current_kind = start, end, order, kind
    pieces += [data[position:current_start], f"[REDACTED:{current_kind}]".encode(), data[current_end:]]
    kinds.setdefault(current_order, current_kind)
    ordered = tuple(dict.fromkeys(kinds[order] for order in sorted(kinds)))
    return RedactionResult(b"".join(pieces).decode("utf-8", "replace"), ordered)


def redact(text: str) -> str:
    """`text` with every secret replaced by `[REDACTED:kind]` (and lone surrogates by U+FFFD)."""
    return redact_secrets(text).text


def redact_optional(text: str | None) -> str | None:
    """`redact` for optional fields (None stays None)."""
    return None if text is None else redact_secrets(text).text


def redact_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, tuples, strings, numbers) with every string redacted, keys too.

    The last check on every export and `--json` output: whatever was built from stored (already
    redacted) text passes unchanged; anything that slipped past the boundary is caught here.
    """
    if isinstance(value, str):
        return redact_secrets(value).text
    if isinstance(value, dict):
        return {redact_data(key) if isinstance(key, str) else key: redact_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(item) for item in value]
    return value
