"""Renders a review report as chat Markdown: a headline, an optional summary, findings by severity."""

from __future__ import annotations

from hololoom_core.ops.review.models import SEVERITIES, ReviewReport


def _headline(report: ReviewReport) -> str:
    files = ", ".join(f"`{name}`" for name in report.files[:4])
    if len(report.files) > 4:
        files += f" and {len(report.files) - 4} more"
    scope = f"{report.lines_reviewed} changed line(s)" if report.changed_lines_only else f"{report.lines_reviewed} line(s)"
    tools = ", ".join(report.tools) if report.tools else "no analyser could run"
    return f"**Code review of {files or 'nothing'}** ({scope}; {tools})"


def render_markdown(report: ReviewReport, max_findings: int = 40) -> str:
    """The review as Markdown: clean code says so; findings are grouped by severity, one line each."""
    lines = [_headline(report)]
    if report.clean:
        if report.tools:
            what = "the changed lines look" if report.changed_lines_only else "the code looks"
            lines[0] += f": **no findings** — {what} clean to {', '.join(report.tools)}."
        else:
            lines[0] += ": nothing was analysed."
    else:
        counts = report.counts()
        summary = " · ".join(f"{count} {severity}" for severity, count in counts.items() if count)
        lines[0] += f": **{len(report.findings)} finding(s)** — {summary}"
    if report.summary:
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in report.summary.splitlines())
        lines.append(f"\n> _Summary by {report.summary_provider}:_\n{quoted}")
    shown = 0
    for severity in SEVERITIES:
        group = [finding for finding in report.findings if finding.severity == severity]
        if not group or shown >= max_findings:
            continue
        lines.append(f"\n**{severity.capitalize()}**")
        for finding in group:
            if shown >= max_findings:
                break
            location = f"{finding.path}:{finding.line}" if finding.line else finding.path
            lines.append(f"- `{location}` `{finding.rule}` {finding.message} → {finding.hint}")
            shown += 1
    if len(report.findings) > shown:
        lines.append(f"\n…and {len(report.findings) - shown} more finding(s); run `hololoom review FILE` for all.")
    if report.notes:
        lines.append("\n_Notes:_ " + "; ".join(report.notes))
    return "\n".join(lines)
