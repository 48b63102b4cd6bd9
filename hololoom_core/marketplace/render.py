"""Markdown for `!market` and the CLI: search results, installed packages and a package's details."""

from __future__ import annotations

from typing import Any

from hololoom_core.marketplace.service import SearchHit


def hit_line(hit: SearchHit) -> str:
    """One search result: name, latest, rating, teams, verified, installed state."""
    badge = "✔ verified" if hit.verified else "⚠ unverified"
    state = ""
    if hit.installed:
        state = f" · installed {hit.installed}" + (" (update available)" if hit.update_available else "")
    return (f"- **{hit.name}** {hit.latest} [{hit.category}] — {hit.summary} · {hit.rating.label} · "
            f"reused by {hit.teams} team(s) · {hit.registry} {badge}{state}")


def search_markdown(hits: list[SearchHit], query: str) -> str:
    """The search results, best Wilson lower bound first."""
    if not hits:
        return f"No package matches '{query}'." if query else "No packages found in the configured registries."
    head = f"**{len(hits)} package(s)**" + (f" matching '{query}'" if query else "") + " (best rated first)"
    return "\n".join([head, *[hit_line(hit) for hit in hits]])


def installed_markdown(installed: dict[str, dict[str, Any]]) -> str:
    """The lockfile as a list."""
    if not installed:
        return "No marketplace packages installed. Find one with `market search`."
    lines = [f"**{len(installed)} package(s) installed**"]
    for name, entry in sorted(installed.items()):
        previous = entry.get("history", [])
        back = f" · rollback to {previous[-1]['version']}" if previous else ""
        auto = " · auto-update" if entry.get("auto_update") else ""
        signer = entry.get("signer") or "UNVERIFIED"
        lines.append(f"- **{name}** {entry['version']} from {entry['registry']} (signer {signer}, range "
                     f"'{entry.get('spec') or 'any'}'){auto}{back}")
    return "\n".join(lines)


def details_markdown(info: dict[str, Any]) -> str:
    """`market show NAME`."""
    lines = [f"**{info['name']}** — {info.get('summary', '')}"]
    if info.get("description"):
        lines.append(info["description"])
    if info.get("installed"):
        lines.append(f"Installed: {info['installed']['version']} from {info['installed']['registry']}")
    rating = info["rating"]
    mean = f"{rating['mean']:.1f}★ from {rating['count']} rating(s), Wilson lower bound {rating['wilson']:.2f}" \
        if rating["mean"] is not None else "no ratings yet"
    lines.append(f"Rating: {mean}; reused by {info['teams']} team(s)")
    lines.append("Versions: " + ", ".join(
        f"{v['version']} ({v['registry']}{'' if v['verified'] else ', unverified'})" for v in info["versions"]))
    if info.get("depends"):
        lines.append("Depends on: " + ", ".join(f"{k} {v}" for k, v in info["depends"].items()))
    if info.get("permissions"):
        lines.append("**What it can do**")
        lines += [f"- {key.replace('_', ' ')}: {', '.join(value) if value else 'none'}"
                  for key, value in info["permissions"].items()
                  if key != "calls" and (value or key != "runbooks_left_out")]  # left out: shown only when some are
    if info.get("files"):
        lines.append("Files: " + ", ".join(info["files"]))
    if info.get("problem"):
        lines.append(f"⚠ {info['problem']}")
    if info.get("changelog"):
        lines += ["**Changelog**", info["changelog"].strip()]
    if rating["comments"]:
        lines.append("**Comments**")
        lines += [f"- {c['stars']}★ {c['user'] or 'someone'}: {c['comment']}" for c in rating["comments"][:5]]
    return "\n".join(lines)
