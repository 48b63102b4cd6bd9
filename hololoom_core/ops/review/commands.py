"""Installs code review into the engine: the `CodeReviewer` service and the `!review` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext, CommandError, CommandResult
from hololoom_core.models import Attachment
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
    """The uploads to review: those sent with the command, else those of the message it replies to."""
    if context.attachments:
        return list(context.attachments)
    return replied_attachments(context)


def replied_attachments(context: CommandContext) -> list[Attachment]:
    """Files of the message the command replies to (`!review` sent as a reply to an uploaded file).

    Their text is read back from the store, where keep() appended it to the body under `[name]` headers
    (with secrets already redacted).
    """
    reply_to = context.message.reply_to
    replied = context.engine.messages.by_event_id(reply_to) if reply_to else None
    if replied is None:
        return []
    files = [item for item in replied.meta.get("attachments", []) if isinstance(item, dict) and item.get("name")]
    markers = [f"[{item['name']}]\n" for item in files]
    found: list[Attachment] = []
    for item, marker in zip(files, markers, strict=True):
        start = replied.body.find(marker)
        if start < 0:
            found.append(Attachment(str(item["name"]), str(item.get("mimetype", "")), int(item.get("size") or 0)))
            continue
        text = replied.body[start + len(marker):]
        for other in markers:
            end = text.find("\n\n" + other)
            if other != marker and end >= 0:
                text = text[:end]
        found.append(Attachment(str(item["name"]), str(item.get("mimetype", "")), int(item.get("size") or 0),
                                text=text))
    return found


class ReviewCapability(Capability):
    """Code review with bandit, ruff and detect-secrets; provides `CodeReviewer`."""

    name = "review"

    def install(self, engine: Engine) -> None:
        """Provide a `CodeReviewer` and register `!review`."""
        reviewer = CodeReviewer(engine.config.review, engine.provider)
        engine.provide(reviewer)
        install_review_command(engine, reviewer)


def install_review_command(engine: Engine, reviewer: CodeReviewer) -> None:
    """Register `!review`."""
    prefix = engine.config.bot.command_prefix

    @engine.commands.command(
        "review",
        help="Review a pasted snippet or diff (in a ``` code block) or an uploaded file with bandit, ruff and "
        "detect-secrets; findings by severity.",
        usage="review <code block, diff or uploaded file>",
        group="ops",
        raw_input=True,  # the one reader of unredacted text: every secret it reports is masked
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
