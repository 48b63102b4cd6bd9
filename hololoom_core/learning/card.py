"""The dataset card (`README.md`): Hugging Face YAML front matter and a body built from measured counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from hololoom_core.config.learning import LearningConfig

if TYPE_CHECKING:
    from hololoom_core.learning.export import ExportSummary
    from hololoom_core.learning.mining import MiningReport


def size_category(n: int) -> str:
    """The Hugging Face `size_categories` bucket of `n` records."""
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


def front_matter(config: LearningConfig, summary: ExportSummary) -> dict[str, object]:
    """The card's YAML metadata (license, language, task categories, size, pretty name, tags, configs)."""
    files = summary.files
    records = files.get("train.jsonl", 0) + files.get("preference.jsonl", 0)
    configs = []
    if "train.jsonl" in files:
        configs.append({"config_name": "messages", "data_files": [{"split": "train", "path": "train.jsonl"}]})
    if "preference.jsonl" in files:
        configs.append({"config_name": "preference", "data_files": [{"split": "train", "path": "preference.jsonl"}]})
    tags = ["chatops", "operations", "sft", "conversational"]
    if files.get("preference.jsonl"):
        tags.append("preference")
    return {
        "license": config.license,
        "language": [config.language],
        "pretty_name": config.pretty_name,
        "task_categories": ["text-generation", "question-answering"],
        "size_categories": [size_category(records)],
        "annotations_creators": ["expert-generated", "machine-generated"],
        "source_datasets": ["original"],
        "tags": tags,
        "configs": configs,
    }


def dataset_card(config: LearningConfig, summary: ExportSummary, report: MiningReport, command: str) -> str:
    """The whole card as Markdown."""
    counts = summary.counts
    meta = yaml.safe_dump(front_matter(config, summary), sort_keys=False, allow_unicode=True).strip()
    lines = [
        "---", meta, "---", "", f"# {config.pretty_name}", "",
        "Question-answer pairs and incident resolutions from a team's ChatOps rooms, mined by HoloLoom "
        "(`hololoom learn export`). Every record carries its provenance in `metadata`.", "",
        "## Sources", "",
        f"- Answered questions (interactions) and resolved incidents recorded by HoloLoom: "
        f"{counts['records']} records read.",
        f"- Kept by source: {', '.join(f'{k} {v}' for k, v in counts['sources'].items()) or 'none'}.",
        "- Room and event ids are replaced by keyed hashes (HMAC-SHA256 with this installation's salt).", "",
        "## Filters", "",
        f"- Judged quality at least {summary.min_quality:.2f} (the judge's weighted rubric score).",
        "- At least one 👍, no 👎, and not asked again by the same person (re-ask).",
        "- Resolved incidents only with a stated root cause.",
        f"- Since: {summary.since or 'the beginning'}.",
        f"- Near-duplicate questions collapsed: MinHash LSH over character {config.shingle_size}-grams "
        f"({config.num_perm} permutations, candidates at {config.lsh_threshold:.2f}), confirmed by exact "
        f"Jaccard ≥ {config.dedup_threshold:.2f}; the best-scored answer of each cluster is kept.", "",
        "## Counts", "",
        "| what | records |", "|---|---:|",
        f"| read | {counts['records']} |",
        f"| kept (train.jsonl) | {summary.files.get('train.jsonl', counts['kept'])} |",
        f"| collapsed as near-duplicates | {counts['duplicate']} |",
        f"| preference pairs (preference.jsonl) | {summary.files.get('preference.jsonl', counts['preference_pairs'])} |",
        f"| excluded | {counts['excluded']} |",
    ]
    for reason, number in counts["excluded_by_reason"].items():
        lines.append(f"| — {reason} | {number} |")
    lines += ["", "## Redaction", "",
              "Every exported text passed HoloLoom's secret redactor and the personal-data patterns (e-mail, "
              "phone" + (", IP addresses" if config.redact_ips else "")
              + (", room members' names and ids" if config.redact_member_names else "")
              + ") on the way out. Replacements read `[REDACTED:kind]`; `redaction_log.jsonl` lists them by "
              "record, field and kind (never the value).", ""]
    if summary.redactions:
        lines += ["| kind | replaced |", "|---|---:|"]
        lines += [f"| {kind} | {number} |" for kind, number in summary.redactions.items()]
        lines.append(f"\n{summary.redacted_records} record(s) had at least one replacement.")
    else:
        lines.append("Nothing needed replacing.")
    lines += ["", "## Consent", "",
              "Only rooms that opted in (`learning.local_rooms` for simulated rooms and the CLI, "
              "`learning.matrix_rooms` or `learning.rooms` for Matrix rooms) and people who have not opted out "
              "(`!learning optout`) are included; `metadata.consent` records the basis of each record.", "",
              "## Schema", "",
              "`train_record.schema.json` and `preference_record.schema.json` (JSON Schema 2020-12) describe "
              "every line; the export validated each record before writing it.", "",
              "## How to reproduce", "", "```sh", command or "hololoom learn export DIR", "```", ""]
    return "\n".join(lines)
