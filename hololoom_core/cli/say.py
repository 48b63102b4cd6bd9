"""`hololoom say`: post a message into the simulated room (and the store) and print every bot reply."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import CliError, add_common_options, open_engine, print_json
from hololoom_core.transport.local import DEFAULT_ROOM, LocalRoom


def register(subparsers: Any) -> None:
    """Add the `say` subcommand."""
    parser = subparsers.add_parser("say", help="say something in the simulated room; prints the bot's replies",
                                   description="Send a message through the local transport, exactly as the "
                                   "app's Chat tab does: it is stored, analysed, and commands (!help) or "
                                   "questions to the bot (@hololoom ...) are answered.")
    parser.add_argument("text", help="the message; start with ! for a command, mention @hololoom to ask")
    parser.add_argument("--as", dest="sender", default="operator", metavar="USER", help="who says it "
                        "(default: operator)")
    parser.add_argument("--room", default=DEFAULT_ROOM, help=f"simulated room (default: {DEFAULT_ROOM})")
    parser.add_argument("--thread", default=None, metavar="EVENT_ID", help="post into the thread of this event")
    parser.add_argument("--to-bot", action="store_true", help="address the bot without mentioning it")
    parser.add_argument("--json", action="store_true", help="print the stored message, insights and replies as JSON")
    add_common_options(parser)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    """Post the message and print the replies."""
    if not args.text.strip():
        raise CliError("say: the message is empty", 2)
    if not args.sender.strip() or any(ch.isspace() for ch in args.sender):
        raise CliError(f"say: --as '{args.sender}' must be one word, for example --as alice", 2)
    async with open_engine(args) as engine:
        room = LocalRoom(engine, room_id=args.room)
        result = await room.post(args.sender, args.text, thread_id=args.thread, to_bot=args.to_bot)
    if args.json:
        print_json(
            {
                "message": None if result.message is None else {
                    "id": result.message.id,
                    "event_id": result.message.event_id,
                    "room": result.message.room_id,
                    "sender": result.message.sender,
                    "body": result.message.body,
                },
                "insights": [
                    {"kind": i.kind, "text": i.text, "confidence": i.confidence, "data": i.data}
                    for i in result.insights
                ],
                "replies": [
                    {
                        "kind": reply.kind,
                        "body": reply.body,
                        "thread_id": reply.thread_id,
                        "answer": reply.answer.as_dict() if reply.answer else None,
                    }
                    for reply in result.replies
                ],
            }
        )
        return 0
    if not result.replies:
        print(f"(stored as message {result.message.id if result.message else '?'}; the bot did not reply — "
              "mention @hololoom or start with ! to talk to it)")
    for reply in result.replies:
        print(reply.body)
        if reply.answer is not None:
            answer = reply.answer
            print(f"\n— agent {answer.agent} · provider {answer.provider} · quality {answer.quality:.2f} · "
                  f"{answer.latency_ms:.1f} ms")
    return 0
