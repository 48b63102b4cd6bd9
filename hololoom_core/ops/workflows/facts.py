"""Facts a `collect` step gathers from the store for digests: open insights, room activity, workflow runs."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hololoom_core.rooms import RoomScope

if TYPE_CHECKING:
    from hololoom_core.ops.workflows.service import WorkflowService

STATUS_WORDS = {
    "running": "running",
    "waiting_approval": "waiting for approval",
    "waiting_timer": "waiting",
    "waiting_child": "waiting for a called workflow",
    "succeeded": "finished",
    "failed": "failed",
    "denied": "denied",
    "timed_out": "timed out",
    "cancelled": "cancelled",
}


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %H:%M UTC")


def _room_clause(scope: RoomScope, column: str = "room_id") -> tuple[str, tuple[Any, ...]]:
    clause, params = scope.sql(column)
    return (f" AND {clause}", tuple(params)) if clause else ("", ())


def collect_facts(
    service: WorkflowService, what: str, *, since: float, scope: RoomScope, kinds: list[str], limit: int
) -> dict[str, Any]:
    """`insights`, `messages` or `runs` since a time in the rooms of `scope`, as {count, items, markdown, ...}."""
    store = service.engine.store
    if what == "insights":
        where, params = _room_clause(scope)
        kind_clause = ""
        if kinds:
            kind_clause = f" AND kind IN ({','.join('?' * len(kinds))})"
            params = params + tuple(kinds)
        base = f"FROM insights WHERE ts >= ? AND status = 'open'{where}{kind_clause}"
        count = store.scalar(f"SELECT count(*) {base}", (since, *params)) or 0
        rows = store.query(f"SELECT kind, text, room_id, ts, confidence {base} ORDER BY ts LIMIT ?",
                           (since, *params, limit))
        items = [{"kind": row["kind"], "text": row["text"], "room": row["room_id"], "ts": row["ts"]} for row in rows]
        by_kind = Counter(item["kind"] for item in items)
        markdown = "\n".join(
            f"- _{item['kind'].replace('_', ' ')}_ · {item['text']} ({item['room']}, {_time(item['ts'])})"
            for item in items
        ) or "- nothing open"
        return {"count": int(count), "items": items, "by_kind": dict(by_kind), "markdown": markdown}
    if what == "messages":
        senders = service.engine.messages.senders(since=since, scope=scope, limit=None)
        count = sum(n for _, n in senders)
        people = [{"user": sender, "messages": n} for sender, n in senders]
        top = ", ".join(f"{person['user']} ({person['messages']})" for person in people[:5])
        markdown = f"{count} message(s) from {len(people)} people" + (f": {top}" if top else "")
        return {"count": int(count), "people": len(people), "items": people[:limit], "markdown": markdown}
    runs = [run for run in service.runs.since(since) if scope.allows(run.room_id)]
    by_status = Counter(run.status for run in runs)
    markdown = "\n".join(
        f"- {run.label} `{run.workflow}` — {STATUS_WORDS.get(run.status, run.status)}" for run in runs[-limit:]
    ) or "- no workflow runs"
    return {
        "count": len(runs),
        "items": [{"run": run.label, "workflow": run.workflow, "status": run.status} for run in runs[-limit:]],
        "by_status": dict(by_status),
        "waiting_approval": by_status.get("waiting_approval", 0),
        "markdown": markdown,
    }
