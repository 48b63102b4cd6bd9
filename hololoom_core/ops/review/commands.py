"""Installs code review into the engine: `engine.extensions["review"]` and the `!review` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hololoom_core.engine.commands import CommandContext, CommandError, CommandResult
from hololoom_core.ops.review.inputs import (
    ReviewInputError,
    items_from_attachments,
    items_from_text,
    url_refusal,
)
from hololoom_core.ops.review.report import render_markdown
from hololoom_core.ops.review.service import CodeReviewer

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


def message_attachments(context: CommandContext) -> list[Any]:
    """The uploads that came with the command: `context.attachments` when the transport gives them, else meta."""
    direct = getattr(context, "attachments", None)
    if direct:
        return list(direct)
    stored = context.message.meta.get("attachments") if isinstance(context.message.meta, dict) else None
    return list(stored) if isinstance(stored, list) else []


def install(engine: Engine) -> None:
    """Put a `CodeReviewer` in `engine.extensions["review"]` and register `!review`."""
    reviewer = CodeReviewer(engine.config.review, engine.provider)
    engine.extensions["review"] = reviewer
    prefix = engine.config.matrix.command_prefix

    @engine.commands.command(
        "review",
        help="Review a pasted snippet or diff (in a ``` code block) or an uploaded file with bandit, ruff and "
        "detect-secrets; findings by severity.",
        usage="review <code block, diff or uploaded file>",
        group="ops",
    )
    async def review(context: CommandContext) -> CommandResult:
        limit = engine.config.review.max_bytes
        try:
            items = items_from_text(context.original_body, context.args, limit)
            uploaded, skipped = items_from_attachments(message_attachments(context), limit)
        except ReviewInputError as exc:
            raise CommandError(str(exc))
        items += uploaded
        if not items:
            refusal = url_refusal(context.args)
            if refusal:
                return CommandResult(refusal, ok=False)
            if skipped:
                raise CommandError(f"{', '.join(f'`{name}`' for name in skipped)} has no text I can review")
            raise CommandError(
                f"Nothing to review: put the code or diff in a ``` block after `{prefix}review`, or upload a file"
            )
        report = await reviewer.review(items)
        if skipped:
            report.notes.append(f"skipped {', '.join(f'`{name}`' for name in skipped)} (no text)")
        return CommandResult(render_markdown(report, engine.config.review.max_findings), data=report.as_dict())
