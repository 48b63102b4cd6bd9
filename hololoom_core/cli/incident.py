"""`hololoom incident list|show ID|timeline ID|postmortem ID`: read incidents from the store."""

from __future__ import annotations

import argparse
from typing import Any

from hololoom_core.cli.common import (
    EXIT_USAGE,
    CliError,
    add_common_options,
    open_engine,
    print_json,
    write_private_file,
)
from hololoom_core.ops.incidents.postmortem import format_duration, format_time, timeline_lines
from hololoom_core.ops.incidents.service import IncidentService
from hololoom_core.redact import redact


def register(subparsers: Any) -> None:
    """Add the `incident` subcommand and its actions."""
    parser = subparsers.add_parser("incident", help="list incidents, show one, print its timeline or postmortem",
                                   aliases=["incidents"],
                                   description="Read the incidents declared with !incident (in chat or with "
                                   "`hololoom say`). Changing them happens through !incident commands.")
    actions = parser.add_subparsers(dest="incident_action", metavar="ACTION")
    listing = actions.add_parser("list", help="list incidents (newest first)")
    listing.add_argument("--status", choices=("open", "resolved", "all"), default="all")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    add_common_options(listing)
    for name, text in (("show", "show one incident's facts and roles"),
                       ("timeline", "print one incident's timeline"),
                       ("postmortem", "print one incident's postmortem (Markdown)")):
        action = actions.add_parser(name, help=text)
        action.add_argument("id", help="incident id, e.g. INC-3")
        if name == "postmortem":
            action.add_argument("--regenerate", action="store_true", help="rebuild it from the current timeline")
            action.add_argument("--output", "-o", metavar="FILE", help="write the Markdown to FILE")
        else:
            action.add_argument("--json", action="store_true", help="print as JSON")
        add_common_options(action)
    parser.set_defaults(handler=run)
    add_common_options(parser)


async def run(args: argparse.Namespace) -> int:
    """Run one incident action."""
    action = getattr(args, "incident_action", None)
    if action is None:
        raise CliError("incident: choose an action: list, show ID, timeline ID or postmortem ID", EXIT_USAGE)
    async with open_engine(args) as engine:
        service = engine.find_capability(IncidentService)
        if service is None:
            raise CliError("incident: incident management is not installed in this engine")
        if action == "list":
            status = None if args.status == "all" else args.status
            incidents = service.list(status, limit=1000)
            if args.json:
                print_json([incident.as_dict() for incident in incidents])
                return 0
            if not incidents:
                print("No incidents." if status is None else f"No {status} incidents.")
            for incident in incidents:
                age = (incident.resolved_ts or engine.clock.now()) - incident.declared_ts
                print(f"{incident.key:<9} {incident.severity}  {incident.status:<8} {format_duration(age):>9}  "
                      f"{incident.title}")
            return 0
        incident = service.get(args.id)
        if incident is None:
            known = ", ".join(i.key for i in service.list(limit=10)) or "none yet"
            raise CliError(f"incident: no incident {args.id} (recent: {known})")
        if action == "show":
            if args.json:
                print_json({**incident.as_dict(),
                            "action_items": [item.as_dict() for item in service.action_items(incident.key)]})
                return 0
            print(f"{incident.key} ({incident.severity}, {incident.status}) {incident.title}")
            print(f"  declared      {format_time(incident.declared_ts)} by {incident.declared_by}")
            print(f"  acknowledged  {format_duration(incident.time_to_acknowledge)} after declaration"
                  + (f" by {incident.acknowledged_by}" if incident.acknowledged_by else ""))
            print(f"  resolved      {format_duration(incident.time_to_resolve)} after declaration"
                  + (f" by {incident.resolved_by}" if incident.resolved_by else ""))
            roles = ", ".join(f"{role}={user}" for role, user in incident.roles.items()) or "none"
            print(f"  roles         {roles}")
            if incident.root_cause:
                print(f"  root cause    {incident.root_cause}")
            return 0
        if action == "timeline":
            entries = service.timeline(incident.key)
            if args.json:
                print_json([entry.as_dict() for entry in entries])
            else:
                print("\n".join(timeline_lines(incident, entries, limit=2000)) or "(empty)")
            return 0
        markdown = service.postmortem(incident.key, regenerate=args.regenerate)
    if args.output:
        try:
            write_private_file(args.output, markdown)  # 0600, scanned for secrets once more
        except CliError as exc:
            raise CliError(f"incident: {exc}")
        print(f"wrote {args.output}")
    else:
        print(redact(markdown), end="")
    return 0
