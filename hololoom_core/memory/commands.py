"""Chat commands of the memory capability: `!recall`, `!decisions`, `!actions`, `!questions`, `!summary`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.commands import CommandContext, CommandError
from hololoom_core.memory.views import (
    ViewError,
    actions_text,
    decisions_text,
    parse_recall_query,
    questions_text,
    recall_text,
    summary_text,
)
from hololoom_core.rooms import RoomScope

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine
    from hololoom_core.memory.service import MemoryService


def out_of_scope(room_id: str, scope: RoomScope) -> str:
    """The one-line refusal for reading a room the reader may not read from here."""
    return (f"{room_id} is not readable from here: this room reads {scope.describe()} "
            "(memory.shared_rooms shares rooms)")


def install_commands(engine: Engine, memory: MemoryService) -> None:
    """Register the memory commands on the engine's registry."""
    registry = engine.commands

    @registry.command("recall", help="Search memory (hybrid BM25 + embeddings); filters room:, from:, thread:, "
                      "since:, until:.", usage="recall QUERY [room:#r] [from:user] [since:7d]", group="memory")
    async def recall(context: CommandContext) -> str:
        try:
            query, filters = parse_recall_query(context.args, engine.clock.now())
        except ViewError as exc:
            raise CommandError(str(exc))
        if not query.strip():
            raise CommandError("Say what to look for, e.g. `!recall checkout-api 500s since:7d`")
        scope = engine.room_scope(context.room_id)
        if filters.room_id is not None and not scope.allows(filters.room_id):
            raise CommandError(out_of_scope(filters.room_id, scope), show_usage=False)
        filters.exclude_ids = (context.message.id,)
        filters.scope = scope
        return recall_text(memory.recall(query, filters=filters), filters)

    @registry.command("decisions", help="The decisions made in this room (reversed ones marked).",
                      usage="decisions", group="memory")
    async def decisions(context: CommandContext) -> str:
        return decisions_text(memory, context.room_id)

    @registry.command("actions", help="Open action items of this room, or of one person; `done N` closes one.",
                      usage="actions [@user] [all] | actions done N", group="memory")
    async def actions(context: CommandContext) -> str:
        argv = list(context.argv)
        if argv and argv[0].lower() == "done":
            if len(argv) != 2 or not argv[1].lstrip("#").isdigit():
                raise CommandError("Give the action item number, e.g. `!actions done 12`")
            item = memory.items.get(int(argv[1].lstrip("#")))
            if item is None or item.kind != "action_item" or not engine.room_scope(context.room_id).allows(
                    item.room_id):
                raise CommandError(f"No action item #{argv[1].lstrip('#')}")
            memory.items.set_status(item.id, "done", context.message)
            from hololoom_core.memory.events import MemoryChanged

            engine.bus.publish(MemoryChanged(item.room_id, ("action_item",)))
            return f"Action item #{item.id} marked done: “{item.text[:120]}”"
        include_done = any(a.lower() == "all" for a in argv)
        people = [a for a in argv if a.lower() != "all"]
        if len(people) > 1:
            raise CommandError("Name at most one person, e.g. `!actions @alice`")
        owner = people[0].lstrip("@").split(":", 1)[0].lower() if people else None
        return actions_text(memory, context.room_id, owner=owner, include_done=include_done,
                            scope=engine.room_scope(context.room_id))

    @registry.command("questions", help="Open questions in this room (`all` includes answered ones).",
                      usage="questions [all]", group="memory")
    async def questions(context: CommandContext) -> str:
        include = any(a.lower() == "all" for a in context.argv)
        return questions_text(memory, context.room_id, include_answered=include)

    @registry.command("summary", help="An extractive summary of a thread (or of the room), linked to the messages.",
                      usage="summary [thread]", group="memory")
    async def summary(context: CommandContext) -> str:
        if len(context.argv) > 1:
            raise CommandError("Give at most one thread id")
        thread = context.argv[0] if context.argv else context.message.thread_id
        return summary_text(memory, context.room_id, thread, rooms=engine.room_scope(context.room_id))
