"""Question types for the loop's statistics: incident, security, code_review, deployment or general."""

from __future__ import annotations

from hololoom_core.text.terms import term_set

# Content terms (stemmed like `term_set`) that point at each type; the type with most hits wins, ties in order.
TYPE_TERMS: dict[str, frozenset[str]] = {
    "security": frozenset(term_set(
        "security secret leaked leak credential password token key rotate vulnerability cve phishing breach "
        "certificate cert tls ssl x509 login auth sso saml oidc oauth mfa jwt access revoke offboarding scan "
        "trivy intrusion forbidden unauthorized 401 403 ldap session suspicious email link")),
    "code_review": frozenset(term_set(
        "review reviewer pr pull request merge approve approval test tests flaky changelog commit branch "
        "refactor lint logging handler endpoint migration column renovate dependency")),
    "deployment": frozenset(term_set(
        "deploy deployment release rollout rollback revert canary helm argo kubectl pod pods crashloop "
        "crashloopbackoff container staging production prod freeze hotfix mobile build pipeline")),
    "incident": frozenset(term_set(
        "error errors 500 502 503 504 5xx latency slow cpu memory oom disk full outage down timeout timeouts "
        "lag backlog queue cache redis dns packet loss replica replication database db query queries "
        "connection pool throttled 429 rate spike alert space inode inodes enospc kafka rabbitmq celery sqs "
        "sidekiq stripe vendor provider partition network mtu route etcd hit ratio evictions memcached backup "
        "restore snapshot wal replica stale nxdomain resolve sluggish p99 p95 apdex load steal killed leak heap "
        "throttling 137 pg_dump velero vacuum deadlock index scan quota")),
}


def question_type(question: str) -> str:
    """The type of an ops question by its content terms; `general` when nothing points anywhere."""
    words = term_set(question)
    best, hits = "general", 0
    for kind, vocabulary in TYPE_TERMS.items():
        count = len(words & vocabulary)
        if count > hits:
            best, hits = kind, count
    return best
