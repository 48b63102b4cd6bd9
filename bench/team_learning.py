"""Team learning figures: mining + export time for 10,000 interactions, dedup recall, redaction recall/false rate.

Run: python bench/team_learning.py [--interactions 10000] [--seed 7]

1. A fresh data dir gets N generated interactions (questions from service x symptom x phrasing templates with
   typos, case and punctuation noise, so near-duplicates occur as in real chat; ultraprompt-shaped answers;
   judged quality, 👍/👎 and re-asks drawn at random; secrets and personal data planted in 5%). Timed:
   `TeamLearning.mine` (consent, filters, MinHash LSH dedup, outbound cleaning) and the export writer
   (schema validation of every record, 0600 files, card). Anchor, same run: json.dumps + write of the same
   number of records, no validation. Goal: mining + export <= 60 s on 2 cores.
2. Dedup: the pairs MinHash LSH + exact-Jaccard confirmation finds among all N questions, against brute-force
   exact Jaccard (sparse shingle matrix) at the same threshold. Goal: candidate recall >= 0.95. Also: pairs
   with Jaccard >= threshold left among the exported questions (should be 0 but for LSH misses).
3. Redaction: a seeded set of secrets and personal data (12 kinds, random values inside ops sentences) ->
   recall = values gone after cleaning (goal >= 0.99); a benign set of ops chat full of numbers, versions,
   times, hosts, commits and URLs -> false-redaction rate = messages changed (goal <= 2%); the same rate on
   every line of the shipped runbooks (real text, not written for this benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hololoom_core.config import load_config  # noqa: E402
from hololoom_core.engine import Engine  # noqa: E402
from hololoom_core.learning import TeamLearning  # noqa: E402
from hololoom_core.learning.cleaning import OutboundCleaner  # noqa: E402
from hololoom_core.learning.dedup import NearDuplicates, exact_pairs  # noqa: E402
from hololoom_core.learning.export import DatasetWriter  # noqa: E402
from hololoom_core.learning.mining import id_hasher  # noqa: E402

SERVICES = [f"{name}-{suffix}" for name in ("checkout", "orders", "payments", "search", "auth", "billing", "cart",
                                            "inventory", "shipping", "profile")
            for suffix in ("api", "worker", "db", "gateway")]
SYMPTOMS = ["returning 500s", "timing out", "slow since the deploy", "crash looping", "out of memory",
            "leaking db connections", "dropping messages", "failing health checks", "throwing TLS errors",
            "rejecting logins", "lagging behind the primary", "filling the disk", "hitting the rate limit",
            "spiking CPU", "serving stale cache"]
PHRASINGS = ["why is {s} {y}?", "{s} is {y}, what should I check first?", "how do I fix {s} {y}",
             "anyone know why {s} keeps {y} since this morning?"]
MEMBERS = ["Alice Chen", "Bob Okafor", "Priya Raman", "Marco Rossi", "Dana Whitfield"]


def noisy(text: str, rng: random.Random) -> str:
    """The same question typed again: case, punctuation, a typo or an extra word."""
    roll = rng.random()
    if roll < 0.25:
        return text.upper() if rng.random() < 0.3 else text.capitalize()
    if roll < 0.5:
        return text.rstrip("?") + rng.choice(["??", "!", " ?", " please", " again"])
    if roll < 0.7 and len(text) > 10:
        i = rng.randrange(1, len(text) - 1)
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text


def answer_text(service: str, symptom: str, rng: random.Random) -> str:
    """An ultraprompt-shaped answer (PLAN, ANSWER with triage/remediate steps, VERIFY, TL;DR)."""
    steps = "\n".join(f"{i}. Check {rng.choice(['logs', 'metrics', 'pods', 'connections', 'deploys'])} of "
                      f"`{service}` for {symptom} (`kubectl -n prod logs deploy/{service} --since=15m`)"
                      for i in range(1, rng.randint(4, 9)))
    return (f"### PLAN\n1. Match the symptom to a runbook.\n2. Triage {service}.\n\n### ANSWER\n"
            f"This looks like {symptom} on `{service}`.\n\n**Triage**\n{steps}\n\n**Remediate**\n1. Roll back the "
            f"last deploy of `{service}` if the errors started with it.\n2. Scale out.\n\n### VERIFY\n1. Error "
            f"rate back under 0.1% for 15 minutes.\n\n### TL;DR\n{symptom} on {service}: triage, roll back, verify.")


def random_secret(kind: str, rng: random.Random) -> tuple[str, str]:
    """(sentence, planted value) for one kind of secret or personal data."""
    up, alnum = string.ascii_uppercase + string.digits, string.ascii_letters + string.digits
    pick = lambda alphabet, n: "".join(rng.choice(alphabet) for _ in range(n))  # noqa: E731
    if kind == "aws-access-key":
        value = "AKIA" + pick(up, 16)
        return f"the deploy used {value} by mistake", value
    if kind == "github-token":
        value = "ghp_" + pick(alnum, 36)
        return f"CI token {value} is in the log", value
    if kind == "slack-token":
        value = f"xoxb-{pick(string.digits, 11)}-{pick(string.digits, 12)}-{pick(alnum, 24)}"
        return f"webhook uses {value} now", value
    if kind == "jwt":
        value = "eyJ" + pick(alnum, 20) + "." + pick(alnum, 40) + "." + pick(alnum, 30)
        return f"session cookie was {value} when it failed", value
    if kind == "password":
        value = pick(alnum, 14)
        form = rng.choice(["db_password={v} in the helm values", "PASSWORD: {v}", "export STRIPE_API_KEY={v}",
                           "redis auth_token = '{v}'", "password={v}"])
        return form.format(v=value), value
    if kind == "url-password":
        value = pick(alnum, 16)
        return f"connect with postgres://app:{value}@db.internal:5432/orders", value
    if kind == "email":
        value = f"{pick(string.ascii_lowercase, 6)}.{pick(string.ascii_lowercase, 5)}@{rng.choice(['corp.example.com', 'gmail.com', 'example.org'])}"
        return f"send the report to {value} afterwards", value
    if kind == "phone":
        value = rng.choice([f"+44 20 {rng.randint(7000, 7999)} {rng.randint(1000, 9999)}",
                            f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
                            f"+1 {rng.randint(201, 989)} {rng.randint(200, 999)} {rng.randint(1000, 9999)}",
                            f"+49 30 {rng.randint(1000000, 9999999)}"])
        return f"on-call phone is {value} tonight", value
    if kind == "ipv4":
        value = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        return f"the node at {value} stopped answering", value
    if kind == "ipv6":
        value = ":".join(f"{rng.randint(0, 65535):x}" for _ in range(8))
        return f"peer {value} flaps every minute", value
    if kind == "member-name":
        value = rng.choice(MEMBERS)
        return f"{value} restarted the pod", value
    value = f"{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    return f"call the vendor at {value}", value


SECRET_KINDS = ["aws-access-key", "github-token", "slack-token", "jwt", "password", "url-password", "email", "phone",
                "ipv4", "ipv6", "member-name", "phone-dashed"]


def benign_message(rng: random.Random) -> str:
    """Ordinary ops chat with numbers, versions, times, hosts, commits and URLs, and nothing to redact."""
    service = rng.choice(SERVICES)
    templates = [
        f"deployed {service} v{rng.randint(1, 3)}.{rng.randint(0, 40)}.{rng.randint(0, 9)} at "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
        f"p99 latency of {service} is {rng.randint(80, 2000)} ms, was {rng.randint(50, 300)} ms yesterday",
        f"INC-{rng.randint(1, 9999)} sev{rng.randint(1, 4)}: HTTP {rng.choice([500, 502, 503, 504])} on {service}",
        f"rolled back to commit {''.join(rng.choice('0123456789abcdef') for _ in range(7))} on {service}",
        f"disk on {service} is at {rng.randint(60, 99)}% after {rng.randint(2, 48)} hours",
        f"see https://grafana.example.com/d/{rng.randint(1000, 9999)}/{service}?from=now-{rng.randint(1, 24)}h",
        f"{service} listens on port {rng.choice([80, 443, 5432, 6379, 8080, 9090])}, probe timeout {rng.randint(1, 30)}s",
        f"ORA-{rng.randint(10000, 99999)} on {service} at 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        f"scaled {service} from {rng.randint(2, 10)} to {rng.randint(11, 40)} replicas, HPA max {rng.randint(40, 80)}",
        f"queue depth {rng.randint(1000, 900000)} messages, consumer lag {rng.randint(1, 600)} s on {service}",
        f"ticket OPS-{rng.randint(100, 9999)} tracks the {service} timeout of {rng.randint(1, 120)} s",
        f"cpu {rng.randint(1, 100)}% mem {rng.randint(100, 8000)}Mi on {service}-{rng.randint(0, 9)} node pool b{rng.randint(1, 9)}",
        f"build 2026.{rng.randint(1, 12)}.{rng.randint(1, 28)}.{rng.randint(1, 999)} of {service} passed {rng.randint(100, 999)} tests",
        f"{service} 127.0.0.1:{rng.randint(1024, 65535)} health ok, {rng.randint(1, 50)} conns in pool",
        f"secretName: {service}-creds is mounted at /etc/{service}, rotation every {rng.randint(7, 90)} days",
        f"the password reset flow of {service} broke after the {rng.randint(1, 30)}.{rng.randint(0, 9)} release",
        f"token bucket on {service} allows {rng.randint(10, 500)} req/s with burst {rng.randint(10, 100)}",
        f"error E{rng.randint(1000, 9999)} from {service}: upstream connect error or disconnect/reset before headers",
    ]
    return rng.choice(templates)


def seed_store(engine: Engine, n: int, rng: random.Random) -> dict[str, int]:
    """Insert `n` interactions with ratings; returns what was planted."""
    store = engine.store
    now = time.time()
    planted = 0
    rows, feedback = [], []
    scores = json.dumps({"score": 0.8, "judge": "heuristic", "criteria": {"structure": {"score": 1.0},
                                                                         "grounded": {"score": 0.6}}})
    with store.transaction() as conn:
        conn.execute("INSERT INTO rooms(room_id, transport, name, created_ts, last_ts) VALUES ('#ops', 'local', "
                     "'#ops', 0, 0)")
        for index in range(1, n + 1):
            service, symptom = rng.choice(SERVICES), rng.choice(SYMPTOMS)
            question = noisy(rng.choice(PHRASINGS).format(s=service, y=symptom), rng)
            answer = answer_text(service, symptom, rng)
            if rng.random() < 0.05:
                sentence, _ = random_secret(rng.choice(SECRET_KINDS), rng)
                question += " " + sentence
                planted += 1
            quality = round(rng.uniform(0.4, 0.97), 4)
            rows.append((index, "#ops", rng.choice(["alice", "bob", "priya", "marco"]), question, answer, "{}",
                         "generalist", "offline", "default", quality, scores, "[]", "[]", 1, 100.0,
                         now - (n - index) * 30, "{}"))
            roll = rng.random()
            if roll < 0.6:
                feedback.append((index, "reviewer", 1, "app", "", now))
            elif roll < 0.7:
                feedback.append((index, "reviewer", -1, "app", "", now))
            elif roll < 0.75:
                feedback.append((index, "asker", -1, "reask", str(index + 1), now))
        conn.executemany(
            "INSERT INTO interactions(id, room_id, asker, query, answer, sections, agent, provider, configuration, "
            "quality, scores, loop_steps, sources, grounded, latency_ms, created_ts, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany("INSERT INTO feedback(interaction_id, user_id, value, source, ref, ts) "
                         "VALUES (?, ?, ?, ?, ?, ?)", feedback)
        conn.executemany("INSERT INTO users(user_id, display_name, is_bot, first_seen, last_seen) "
                         "VALUES (?, ?, 0, 0, 0)", [(name.split()[0].lower() + "x", name) for name in MEMBERS])
    return {"interactions": n, "planted": planted, "rated": len(feedback)}


def bench_export(n: int, seed: int) -> None:
    """Figures 1 and 2: mining + export time, pairs left, and dedup recall against brute force."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, data_dir=Path(tmp) / "data", environ={})
        engine = Engine(config)
        try:
            seeded = seed_store(engine, n, rng)
            learning = engine.capability(TeamLearning)
            started = time.perf_counter()
            report = learning.mine()
            mined = time.perf_counter()
            writer = DatasetWriter(config.learning, id_hasher(learning.id_salt()))
            summary = writer.write(report, Path(tmp) / "export", now=time.time())
            finished = time.perf_counter()
            records = [writer.train_record(example) for example in report.kept]
            anchor_start = time.perf_counter()
            with open(Path(tmp) / "anchor.jsonl", "w", encoding="utf-8") as handle:
                for record in records:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            anchor = time.perf_counter() - anchor_start
            total = finished - started
            counts = summary.counts
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
            print(f"[1] mining + export of {seeded['interactions']:,} interactions ({seeded['rated']:,} rated, "
                  f"{seeded['planted']} with planted secrets/PII) on {cores} core(s): {total:.2f} s "
                  f"(mine {mined - started:.2f} s, write+validate {finished - mined:.2f} s) — goal <= 60 s: "
                  f"{'MET' if total <= 60 else 'MISSED'}")
            print(f"    anchor (json.dumps + write of the {len(records):,} kept records, no validation): "
                  f"{anchor:.3f} s -> export is {total / max(anchor, 1e-9):.0f}x the anchor")
            print(f"    kept {counts['kept']:,}, near-duplicates collapsed {counts['duplicate']:,}, excluded "
                  f"{counts['excluded']:,} {counts['excluded_by_reason']}, preference pairs "
                  f"{counts['preference_pairs']:,}, redactions {summary.redactions}")
            exported = [example.clean_question for example in report.kept if example.source == "interaction"]
            left = exact_pairs(exported, config.learning.dedup_threshold)
            print(f"    pairs with exact Jaccard >= {config.learning.dedup_threshold} left among the "
                  f"{len(exported):,} exported questions: {len(left)}")
            questions = [row[0] for row in engine.store.query("SELECT query FROM interactions ORDER BY id")]
        finally:
            engine.store.close()
    finder = NearDuplicates(threshold=config.learning.dedup_threshold, lsh_threshold=config.learning.lsh_threshold,
                            num_perm=config.learning.num_perm, shingle_size=config.learning.shingle_size)
    started = time.perf_counter()
    found = finder.find(questions)
    lsh_s = time.perf_counter() - started
    started = time.perf_counter()
    truth = exact_pairs(questions, config.learning.dedup_threshold)
    brute_s = time.perf_counter() - started
    recall = len(found.pairs & truth) / len(truth) if truth else 1.0
    print(f"[2] dedup over all {len(questions):,} questions: brute-force exact Jaccard >= "
          f"{config.learning.dedup_threshold}: {len(truth):,} pairs ({brute_s:.2f} s, sparse matrix); MinHash LSH "
          f"(lsh threshold {config.learning.lsh_threshold}, {config.learning.num_perm} perms) + exact confirmation: "
          f"{len(found.pairs):,} pairs from {found.candidates:,} candidates ({lsh_s:.2f} s); "
          f"candidate recall {recall:.4f} — goal >= 0.95: {'MET' if recall >= 0.95 else 'MISSED'}; "
          f"false pairs {len(found.pairs - truth)}")


def bench_redaction(seed: int, per_kind: int, benign: int) -> None:
    """Figure 3: recall on seeded secrets and personal data, false-redaction rate on benign chat."""
    rng = random.Random(seed + 1)
    cleaner = OutboundCleaner(members=MEMBERS, ips=True)
    missed: dict[str, int] = {}
    total = 0
    for kind in SECRET_KINDS:
        for _ in range(per_kind):
            sentence, value = random_secret(kind, rng)
            cleaned, _ = cleaner.clean(f"{benign_message(rng)}; {sentence}")
            total += 1
            if value in cleaned:
                missed[kind] = missed.get(kind, 0) + 1
    recall = 1 - sum(missed.values()) / total
    print(f"[3] redaction recall on {total:,} seeded values ({len(SECRET_KINDS)} kinds x {per_kind}): {recall:.4f} "
          f"— goal >= 0.99: {'MET' if recall >= 0.99 else 'MISSED'}; missed by kind: {missed or 'none'}")
    changed = 0
    examples: list[str] = []
    for _ in range(benign):
        text = benign_message(rng)
        cleaned, _ = cleaner.clean(text)
        if cleaned != text:
            changed += 1
            if len(examples) < 3:
                examples.append(f"{text!r} -> {cleaned!r}")
    rate = changed / benign
    print(f"    false-redaction rate on {benign:,} benign ops messages: {rate:.4f} ({changed} changed) — goal <= 0.02: "
          f"{'MET' if rate <= 0.02 else 'MISSED'}" + (f"; e.g. {examples}" if examples else ""))


def bench_runbook_lines() -> None:
    """The false-redaction rate on real text nobody wrote for this benchmark: every line of the shipped runbooks."""
    from hololoom_core.llm.runbooks import RunbookLibrary

    cleaner = OutboundCleaner(members=MEMBERS, ips=True)
    lines = [line for runbook in RunbookLibrary.from_directory().runbooks.values()
             for line in (runbook.title, runbook.summary, *runbook.symptoms, *runbook.triage, *runbook.remediation,
                          *runbook.verify, runbook.escalate)]
    changed = [(line, cleaner.clean(line)[0]) for line in lines if cleaner.clean(line)[0] != line]
    rate = len(changed) / len(lines)
    print(f"    false-redaction rate on the {len(lines):,} lines of the shipped runbooks: {rate:.4f} "
          f"({len(changed)} changed) — goal <= 0.02: {'MET' if rate <= 0.02 else 'MISSED'}"
          + (f"; e.g. {changed[:2]}" if changed else ""))


def main() -> None:
    """Print every figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=10_000, help="how many interactions to mine")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the generated data")
    parser.add_argument("--per-kind", type=int, default=500, help="seeded values per secret/PII kind")
    parser.add_argument("--benign", type=int, default=5_000, help="benign messages for the false-redaction rate")
    args = parser.parse_args()
    bench_export(args.interactions, args.seed)
    bench_redaction(args.seed, args.per_kind, args.benign)
    bench_runbook_lines()


if __name__ == "__main__":
    main()
