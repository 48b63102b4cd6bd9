"""Health checks for `hololoom doctor`: config, data dir, store and optional parts, one line each."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sqlite3
from collections.abc import Sequence

from hololoom_core.config import Config
from hololoom_core.engine.capabilities import CheckResult, DoctorCheck

Check = DoctorCheck
CHECKS: list[Check] = []


def check(function: Check) -> Check:
    """Register a doctor check (checks run in registration order)."""
    CHECKS.append(function)
    return function


@check
async def check_config(config: Config) -> CheckResult:
    """Where the configuration came from and which mode it selects."""
    source = str(config.source) if config.source else "built-in defaults (no config file)"
    return CheckResult("config", "ok", f"{source}; mode {config.mode}, provider {config.llm.provider}, "
                       f"retrieval {config.hololoom.config_mode}")


@check
async def check_data_dir(config: Config) -> CheckResult:
    """The data directory exists (or can be created) and is writable, with free space."""
    directory = config.data_dir
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return CheckResult("data dir", "fail", f"{directory}: cannot create ({exc}); pass --data-dir")
    if not os.access(directory, os.W_OK):
        return CheckResult("data dir", "fail", f"{directory}: not writable; fix permissions or pass --data-dir")
    free_mb = shutil.disk_usage(directory).free / 1e6
    status = "ok" if free_mb > 200 else "warn"
    return CheckResult("data dir", status, f"{directory} ({free_mb:,.0f} MB free)")


@check
async def check_store(config: Config) -> CheckResult:
    """The SQLite file opens, migrates, has FTS5 and uses WAL."""
    from hololoom_core.engine.capabilities import default_capabilities
    from hololoom_core.store import Store, StoreError
    from hololoom_core.store import schema as _schema  # noqa: F401  (registers the core tables)
    from hololoom_core.store.db import Migration, registered_migrations
    from hololoom_core.store.messages import MessageStore

    try:
        components: dict[str, Sequence[Migration]] = {"core": registered_migrations("core")}
        for capability in default_capabilities():
            components.update(capability.migrations)
        store = Store(config.database_path, synchronous=config.store.synchronous)
        try:
            versions = store.apply_migrations(components)
            mode = store.scalar("PRAGMA journal_mode")
            messages = MessageStore(store).count()
            answers = store.scalar("SELECT count(*) FROM interactions")
            integrity = store.scalar("PRAGMA quick_check")
        finally:
            store.close()
    except (StoreError, sqlite3.Error) as exc:
        return CheckResult("store", "fail", str(exc))
    if integrity != "ok":
        return CheckResult("store", "fail", f"{config.database_path}: integrity check says {integrity}")
    schema = ", ".join(f"{name} v{version}" for name, version in sorted(versions.items()))
    return CheckResult(
        "store", "ok", f"{config.database_path} ({mode}, SQLite {sqlite3.sqlite_version}); "
        f"{messages} messages, {answers} answers; schema {schema}"
    )


@check
async def check_runbooks(config: Config) -> CheckResult:
    """The shipped runbooks load, and so do installed packages' runbooks."""
    from hololoom_core.llm.runbooks import RunbookError, RunbookLibrary, package_runbooks

    try:
        library = RunbookLibrary.from_directory()
    except RunbookError as exc:
        return CheckResult("runbooks", "fail", str(exc))
    extra, problems = package_runbooks(config.data_dir, set(library.runbooks))
    detail = f"{len(library)} shipped runbooks loaded, {len(extra)} from installed packages"
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return CheckResult("runbooks", "warn", f"{problems[0]}{more}; {detail}")
    return CheckResult("runbooks", "ok", detail)


@check
async def check_command_extensions(config: Config) -> CheckResult:
    """YAML command aliases parse; command plugins are found (the engine imports them, the doctor does not)."""
    from hololoom_core.ops.commands.aliases import load_alias_directory
    from hololoom_core.ops.commands.plugins import plugin_inventory

    aliases = load_alias_directory(config.aliases_dir)
    plugins = plugin_inventory(config)
    detail = f"{len(aliases.aliases)} alias(es) in {config.aliases_dir}; {len(plugins)} plugin(s): " \
             f"{', '.join(plugins) or 'none'}"
    if aliases.problems:
        more = f" (and {len(aliases.problems) - 1} more)" if len(aliases.problems) > 1 else ""
        return CheckResult("commands", "warn", f"{aliases.problems[0]}{more}; {detail}")
    return CheckResult("commands", "ok", detail)


@check
async def check_language_provider(config: Config) -> CheckResult:
    """The configured language provider answers (the offline engine always does)."""
    if config.llm.provider == "offline":
        return CheckResult("llm", "ok", "offline engine (retrieval + runbooks + rules; not a language model)")
    from hololoom_core.llm.factory import build_provider
    from hololoom_core.llm.offline import OfflineAnswerEngine
    from hololoom_core.llm.runbooks import RunbookLibrary

    provider = build_provider(config, OfflineAnswerEngine(RunbookLibrary([])))
    status = await provider.status()
    if status.available:
        return CheckResult("llm", "ok", status.detail)
    return CheckResult("llm", "warn", f"{status.detail}; answers fall back to the offline engine")


@check
async def check_promptly(config: Config) -> CheckResult:
    """The ultraprompt spec loads, the loop parses, and the experiments are defined."""
    from hololoom_core.answers.loop_dsl import parse_loop
    from hololoom_core.answers.spec import SpecError, load_spec
    from hololoom_core.promptly.experiments import load_presets

    try:
        spec = load_spec(config.promptly.spec)
    except SpecError as exc:
        return CheckResult("promptly", "fail", str(exc))
    experiments = {**load_presets(), **config.promptly.experiments.definitions}
    state = "on" if config.features.self_improving else "off (features.self_improving: false)"
    return CheckResult("promptly", "ok", f"spec {spec.name} ({len(spec.sections)} sections), loop "
                       f"{parse_loop(config.promptly.loop)}, judge {config.promptly.judge}; "
                       f"{len(experiments)} experiments defined, experiments {state}")


@check
async def check_memory(config: Config) -> CheckResult:
    """The retrieval mode's optional parts are installed and the operator's pattern file is valid."""
    from hololoom_core.memory.doctor import memory_check

    status, detail = memory_check(config)
    return CheckResult("memory", status, detail)


@check
async def check_app(config: Config) -> CheckResult:
    """The terminal app's toolkit is installed (read from package metadata: the engine never imports the UI)."""
    try:
        version = importlib.metadata.version("textual")
    except importlib.metadata.PackageNotFoundError:
        return CheckResult("app", "warn", "textual is not installed; `hololoom-tui` will not start (pip install textual)")
    return CheckResult("app", "ok", f"textual {version}")


@check
async def check_code_review(config: Config) -> CheckResult:
    """The analysers behind `!review` can run."""
    from hololoom_core.ops.review.analyzers import tool_command

    wanted = {"bandit": config.review.bandit, "ruff": config.review.ruff}
    missing = [name for name, enabled in wanted.items() if enabled and tool_command(name) is None]
    if config.review.detect_secrets and importlib.util.find_spec("detect_secrets") is None:
        missing.append("detect-secrets")
    if missing:
        return CheckResult("code review", "warn", f"{', '.join(missing)} not installed; reviews skip them "
                           f"(pip install {' '.join(missing)})")
    enabled = [name for name, on in (*wanted.items(), ("detect-secrets", config.review.detect_secrets)) if on]
    return CheckResult("code review", "ok", ", ".join(enabled) or "every analyser is switched off")


@check
async def check_workflows(config: Config) -> CheckResult:
    """The workflows load; a bad file is named with its line."""
    from hololoom_core.ops.workflows.commands import load_library, user_directory

    if not config.workflows.enabled:
        return CheckResult("workflows", "ok", "switched off (workflows.enabled: false)")
    library = load_library(config)
    detail = f"{len(library)} workflows (user folder {user_directory(config)})"
    if library.problems:
        more = f" (+{len(library.problems) - 1} more)" if len(library.problems) > 1 else ""
        return CheckResult("workflows", "warn", f"{detail}; {library.problems[0]}{more}")
    return CheckResult("workflows", "ok", detail)


async def run_checks(config: Config) -> list[CheckResult]:
    """Run the core checks, then every capability's `doctor_checks`; a crashing check is a `fail`, not raised."""
    from hololoom_core.engine.capabilities import default_capabilities

    declared = [function for capability in default_capabilities() for function in capability.doctor_checks]
    results: list[CheckResult] = []
    for function in [*CHECKS, *declared]:
        try:
            results.append(await function(config))
        except Exception as exc:
            name = function.__name__.removeprefix("check_").replace("_", " ")
            results.append(CheckResult(name, "fail", f"check crashed: {type(exc).__name__}: {exc}"))
    return results

