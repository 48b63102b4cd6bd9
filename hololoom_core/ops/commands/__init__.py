"""The command framework's no-code and plug-in parts: YAML aliases, folder and entry-point plugins.

Python commands use the decorator on `engine.commands` (see `hololoom_core.engine.commands`).
This capability, installed last, adds:
- plugins from `ops.plugins_dir` (default `<data dir>/plugins`) and from the `hololoom.plugins`
  entry-point group (`ops.entry_point_plugins`), see `plugins.py`;
- YAML aliases from `ops.aliases_dir` (default `<data dir>/aliases`), see `aliases.py`;
- `!aliases [reload]` and `!plugins`, which list what loaded and every one-line problem.

`engine.extensions["plugins"]` is the `PluginReport`; `engine.extensions["aliases"]` the `AliasCommands`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.arguments import Arg
from hololoom_core.engine.commands import CommandContext
from hololoom_core.ops.commands.aliases import AliasCommands, load_alias_directory
from hololoom_core.ops.commands.plugins import PluginReport, load_entry_point_plugins, load_folder_plugins

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


def install(engine: Engine) -> None:
    """Load plugins, then aliases (so an alias cannot shadow a plugin's command), and register the listings."""
    report = PluginReport()
    load_folder_plugins(engine, engine.config.plugins_dir, report)
    if engine.config.ops.entry_point_plugins:
        load_entry_point_plugins(engine, report)
    for problem in report.problems:
        engine.report_error("plugins", problem)
    engine.extensions["plugins"] = report
    aliases = AliasCommands(engine)
    aliases.install(load_alias_directory(engine.config.aliases_dir))
    engine.extensions["aliases"] = aliases
    prefix = engine.config.bot.command_prefix

    @engine.commands.command("aliases", help="List the YAML command aliases and any problems loading them.",
                             group="general", args=[Arg("action", choices=("list", "reload"), default="list")])
    async def aliases_command(context: CommandContext) -> str:
        if context.params["action"] == "reload":
            if not engine.access.is_admin(context.user):
                return "Sorry, reloading aliases is for admins only."
            aliases.install(load_alias_directory(engine.config.aliases_dir))
        lines = [f"**{len(aliases.aliases)} alias(es)** from `{engine.config.aliases_dir}`"]
        for alias in aliases.aliases:
            target = f"workflow `{alias.workflow}`" if alias.workflow else f"command `{prefix}{alias.command}`"
            phrases = " | ".join(f"`{prefix}{fmt.display}`" for fmt in alias.formats)
            lines.append(f"- **{alias.name}**: {phrases} → {target}")
        if aliases.problems:
            lines += ["", f"**{len(aliases.problems)} problem(s)**"] + [f"- {p}" for p in aliases.problems]
        return "\n".join(lines)

    @engine.commands.command("plugins", help="List the command plugins that loaded and any that failed.")
    async def plugins_command(context: CommandContext) -> str:
        lines = [f"**{len(report.loaded)} plugin(s)** (folder `{engine.config.plugins_dir}`, entry points "
                 f"{'on' if engine.config.ops.entry_point_plugins else 'off'})"]
        lines += [f"- {name}: {source}" for name, source in sorted(report.loaded.items())]
        if report.problems:
            lines += ["", f"**{len(report.problems)} problem(s)**"] + [f"- {p}" for p in report.problems]
        return "\n".join(lines)
