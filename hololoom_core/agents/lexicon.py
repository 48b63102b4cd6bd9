"""Domain lexicons: how many security and code-review words a question uses, as extra model columns.

Unlike a signal (a fixed bonus), a lexicon count is one more feature column next to the TF-IDF columns:
logistic regression learns how much it weighs for every agent, so a question about SELinux on database
hosts can lean towards security even when its other words ("db", "hosts") lean towards incident.
The word lists cover the agents' sub-domains (hardening, encryption, certificates, MAC systems, access
control, audit, compliance, threats; code structure and review vocabulary), not particular questions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

LEXICON_WEIGHT = 0.25  # scale of the log1p(count) columns; chosen by 5-fold CV on the training split

_SECURITY = (
    r"encrypt\w*|decrypt\w*|tls|ssl|certs?|certificates?|ciphers?|selinux|apparmor|seccomp|iam|rbac|mfa|2fa"
    r"|audit\w*|secrets?|leak\w*|cves?|vuln\w*|phish\w*|complian\w*|soc ?2|pci|gdpr|hipaa|waf|ddos|exploit\w*"
    r"|attack\w*|malware|ransomware|sbom|privileges?|permissions?|expos\w*|tokens?|passwords?|credentials?"
    r"|creds|harden\w*|firewall|pen ?test\w*|breach\w*|kms|hsts|xss|csrf|sqli|injection|least.privilege"
    r"|unauthori[sz]ed|suspicious|compromised?|rotat\w*|signing|signed"
)
_CODE_REVIEW = (
    r"review\w*|refactor\w*|functions?|methods?|class(?:es)?|variables?|readab\w*|loops?|recursi\w*|prs?|diffs?"
    r"|unit tests?|bugs?|edge.cases?|algorithms?|lint\w*|nits?"
)

LEXICONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("security", re.compile(rf"\b(?:{_SECURITY})\b", re.I)),
    ("code_review", re.compile(rf"\b(?:{_CODE_REVIEW})\b", re.I)),
)


def lexicon_row(text: str) -> list[float]:
    """The lexicon columns of one text: LEXICON_WEIGHT * log(1 + words found), one value per lexicon."""
    return [LEXICON_WEIGHT * math.log1p(len(pattern.findall(text))) for _agent, pattern in LEXICONS]


def lexicon_matrix(texts: Sequence[str]) -> np.ndarray:
    """The lexicon columns of many texts (rows: texts, columns: LEXICONS in order)."""
    import numpy as np

    return np.asarray([lexicon_row(text) for text in texts], dtype=np.float64).reshape(len(texts), len(LEXICONS))
