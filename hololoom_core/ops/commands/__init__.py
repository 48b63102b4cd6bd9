"""The command framework's no-code and plug-in parts: YAML aliases, folder and entry-point plugins.

Python commands use the decorator on `engine.commands` (see `hololoom_core.engine.commands`).
This capability, installed after every other one (`after = ("*",)`), adds:
- plugins from `ops.plugins_dir` (default `<data dir>/plugins`) and from the `hololoom.plugins`
  entry-point group (`ops.entry_point_plugins`), see `plugins.py`;
- YAML aliases from `ops.aliases_dir` (default `<data dir>/aliases`), see `aliases.py`;
- `!aliases [reload]` and `!plugins`, which list what loaded and every one-line problem.

It provides the `PluginReport` and the `AliasCommands` (`engine.capability(PluginReport)`). Plugins are
imported in `prepare`, before the store migrates, so a plugin's `MIGRATIONS` tables exist when it installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hololoom_core.engine.arguments import Arg
from hololoom_core.engine.capabilities import Capability
from hololoom_core.engine.commands import CommandContext
from hololoom_core.ops.commands.aliases import AliasCommands, load_alias_directory, load_all_aliases
from hololoom_core.ops.commands.plugins import (
    LoadedPlugin,
    PluginReport,
    import_entry_point_plugins,
    import_folder_plugins,
    install_plugins,
)
from hololoom_core.packages import package_folders

if TYPE_CHECKING:
    from hololoom_core.engine.pipeline import Engine


class CommandExtensions(Capability):
    """Folder and entry-point plugins, then YAML aliases; provides `PluginReport` and `AliasCommands`."""

    name = "plugins"
    after = ("*",)  # plugins and aliases see every other capability's commands and services

    def __init__(self) -> None:
        self.report = PluginReport()
        self.plugins: list[LoadedPlugin] = []

    def prepare(self, engine: Engine) -> None:
        """Import the plugins and collect the tables they declare (the store migrates after this)."""
        super().prepare(engine)
        self.report = PluginReport()
        self.plugins = import_folder_plugins(engine.config.plugins_dir, self.report)
        if engine.config.ops.entry_point_plugins:
            self.plugins += import_entry_point_plugins(self.report)
        for plugin in list(self.plugins):
            try:
                for component, steps in plugin.migrations.items():
                    engine.migrations.add(component, steps)
            except Exception as exc:  # e.g. a table group another capability already owns
                self.plugins.remove(plugin)
                self.report.problems.append(f"{plugin.source}: plugin '{plugin.name}' failed ({exc})")

    def install(self, engine: Engine) -> None:
        """Install the plugins, then the aliases (so an alias cannot shadow a plugin's command), and the listings."""
        install_plugins(engine, self.plugins, self.report)
        for problem in self.report.problems:
            engine.report_error("plugins", problem)
        engine.provide(self.report)
        aliases = AliasCommands(engine)
        aliases.install(load_alias_directory(engine.config.aliases_dir))
        engine.provide(aliases)
        install_listing_commands(engine, self.report, aliases)


def install_listing_commands(engine: Engine, report: PluginReport, aliases: AliasCommands) -> None:
    """Register `!aliases [reload]` and `!plugins`."""
    prefix = engine.config.bot.command_prefix

    @engine.commands.command("aliases", help="List the YAML command aliases and any problems loading them.",
                             group="general", args=[Arg("action", choices=("list", "reload"), default="list")])
    async def aliases_command(context: CommandContext) -> str:
        if context.params["action"] == "reload":
            if not engine.access.is_admin(context.user):
                return "Sorry, reloading aliases is for admins only."
            aliases.install(load_all_aliases(engine.config))
        packages = len(package_folders(engine.config.data_dir, "aliases"))
        lines = [f"**{len(aliases.aliases)} alias(es)** from `{engine.config.aliases_dir}`"
                 + (f" and {packages} installed package(s)" if packages else "")]
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
