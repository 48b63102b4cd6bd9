"""Configuration: one pydantic model tree, loaded from YAML, overridden by environment variables.

A missing file means offline defaults. A bad file raises `ConfigError` whose message is one line
naming the file, the key (and its line when known) and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

APP_NAME = "hololoom"
DEFAULT_CONFIG_NAMES = ("config.yaml", "hololoom.yaml")


class ConfigError(Exception):
    """A configuration problem, described in one line an operator can act on."""


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MatrixConfig(StrictModel):
    """How the bot reaches a Matrix homeserver; empty homeserver means no Matrix (offline)."""

    homeserver: str | None = None
    user_id: str | None = None
    access_token: SecretStr | None = None
    password: SecretStr | None = None
    device_id: str | None = None
    display_name: str = "HoloLoom"
    command_prefix: str = "!"
    rooms: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)
    # Invites, sync and delivery (hololoom_core/transport/matrix).
    auto_join_users: list[str] = Field(default_factory=list)
    auto_join_servers: list[str] = Field(default_factory=list)
    sync_timeout_ms: int = Field(default=30_000, ge=0, le=300_000)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    backfill_limit: int = Field(default=200, ge=0, le=10_000)
    max_concurrent_answers: int = Field(default=4, ge=1, le=64)
    # Replies.
    answer_threads: Literal["always", "long", "never"] = "long"
    long_answer_chars: int = Field(default=600, ge=0)
    max_message_chars: int = Field(default=16_000, ge=500, le=60_000)
    typing_notifications: bool = True
    read_receipts: bool = True
    reactions: dict[str, int] = Field(
        default_factory=lambda: {"👍": 1, "👍️": 1, "+1": 1, "✅": 1, "👎": -1, "👎️": -1, "-1": -1, "❌": -1}
    )
    # Media.
    max_file_bytes: int = Field(default=10_000_000, ge=0)
    max_indexed_chars: int = Field(default=100_000, ge=0)
    ocr: bool = True
    # End-to-end encryption.
    encryption: bool = True
    e2e_trust: Literal["allowed", "all"] = "allowed"
    e2e_trusted_users: list[str] = Field(default_factory=list)

    @field_validator("reactions")
    @classmethod
    def _reaction_values(cls, value: dict[str, int]) -> dict[str, int]:
        for key, score in value.items():
            if score not in (-1, 1):
                raise ValueError(f"reaction '{key}' must map to 1 or -1, for example '👍': 1")
        return value

    @field_validator("backoff_max_s")
    @classmethod
    def _backoff_cap(cls, value: float, info: Any) -> float:
        initial = info.data.get("backoff_initial_s", 1.0)
        if value < initial:
            raise ValueError(f"must be at least backoff_initial_s ({initial})")
        return value

    @field_validator("command_prefix")
    @classmethod
    def _prefix_not_blank(cls, value: str) -> str:
        if not value or value.strip() != value or len(value) > 3:
            raise ValueError("must be 1-3 non-space characters, for example '!'")
        return value

    @field_validator("homeserver")
    @classmethod
    def _homeserver_is_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, for example https://matrix.example.org")
        return value.rstrip("/") if value else value

    @field_validator("user_id")
    @classmethod
    def _user_id_shape(cls, value: str | None) -> str | None:
        if value and not (value.startswith("@") and ":" in value):
            raise ValueError("must look like @bot:example.org")
        return value

    @property
    def configured(self) -> bool:
        """True when there is enough to log in: homeserver, user id and a token or password."""
        return bool(self.homeserver and self.user_id and (self.access_token or self.password))


class HololoomConfig(StrictModel):
    """Core engine settings: retrieval mode, where data lives, and the bot's name in the room."""

    config_mode: Literal["bare", "fast", "fused"] = "fast"
    data_dir: Path | None = None
    bot_name: str = "hololoom"

    @field_validator("bot_name")
    @classmethod
    def _bot_name_word(cls, value: str) -> str:
        if not value or not value.replace("-", "").replace("_", "").isalnum():
            raise ValueError("must be one word of letters, digits, '-' or '_', for example hololoom")
        return value.lower()


class LlmConfig(StrictModel):
    """Which language provider answers: the offline engine (default) or an Ollama server."""

    provider: Literal["offline", "ollama"] = "offline"
    host: str = "http://127.0.0.1:11434"
    model: str = "llama3.2"
    judge_model: str | None = None
    embed_model: str = "all-minilm"
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    connect_timeout_s: float = Field(default=3.0, gt=0, le=120)
    temperature: float = Field(default=0.2, ge=0, le=2)


class FeaturesConfig(StrictModel):
    """Switches for the learning and collaboration features (all on by default)."""

    self_improving: bool = True
    team_learning: bool = True
    workflow_marketplace: bool = True
    predictive_quality: bool = True
    multi_agent: bool = True


class AclRule(StrictModel):
    """Who may run a command: glob lists of users and rooms to allow or deny (deny wins)."""

    allow_users: list[str] | None = None
    deny_users: list[str] = Field(default_factory=list)
    allow_rooms: list[str] | None = None
    deny_rooms: list[str] = Field(default_factory=list)
    admin_only: bool = False
    allow_private: bool = True
    allow_group: bool = True


class AclConfig(StrictModel):
    """Access control: per-command rules keyed by command glob, a default rule, and named permissions."""

    default: AclRule = Field(default_factory=AclRule)
    commands: dict[str, AclRule] = Field(default_factory=dict)
    permissions: dict[str, list[str]] = Field(default_factory=dict)


class StoreConfig(StrictModel):
    """SQLite durability: `full` syncs the write-ahead log on every commit, `normal` at checkpoints."""

    synchronous: Literal["full", "normal"] = "full"


class AnswerConfig(StrictModel):
    """Limits of the answer path: how much context to retrieve and cite."""

    max_sources: int = Field(default=5, ge=0, le=50)
    max_runbooks: int = Field(default=2, ge=0, le=10)


def _check_loop(value: str | None) -> str | None:
    """Parse a loop DSL string so a typo fails at config load, with its column."""
    if value is None:
        return value
    from hololoom_core.promptly.loop_dsl import LoopSyntaxError, parse_loop

    try:
        parse_loop(value)
    except LoopSyntaxError as exc:
        raise ValueError(exc.detail)
    return value


class VariantConfig(StrictModel):
    """One experiment variant: what it changes (loop, spec, instructions, retrieval, temperature, threshold)."""

    description: str = ""
    loop: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)
    instructions: str | None = None
    judge_threshold: float | None = Field(default=None, ge=0, le=1)
    retrieval_mode: Literal["bare", "fast", "fused"] | None = None
    max_sources: int | None = Field(default=None, ge=0, le=50)
    max_runbooks: int | None = Field(default=None, ge=0, le=10)
    temperature: float | None = Field(default=None, ge=0, le=2)

    @field_validator("loop")
    @classmethod
    def _loop_parses(cls, value: str | None) -> str | None:
        return _check_loop(value)


class ExperimentConfig(StrictModel):
    """An A/B(/n) experiment: two or more named variants."""

    description: str = ""
    variants: dict[str, VariantConfig]

    @field_validator("variants")
    @classmethod
    def _two_or_more(cls, value: dict[str, VariantConfig]) -> dict[str, VariantConfig]:
        if len(value) < 2:
            raise ValueError("an experiment needs at least two variants")
        for name in value:
            if not name or not name.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"variant name '{name}' must be one word of letters, digits, '-' or '_'")
        return value


class ExperimentsConfig(StrictModel):
    """How experiments assign, reward and promote variants."""

    judge_weight: float = Field(default=0.6, ge=0)
    reaction_weight: float = Field(default=0.3, ge=0)
    reask_weight: float = Field(default=0.1, ge=0)
    reask_window_minutes: float = Field(default=10.0, ge=0, le=1440)
    reask_similarity: float = Field(default=0.6, gt=0, le=1)
    promote_probability: float = Field(default=0.95, gt=0.5, lt=1)
    min_samples: int = Field(default=20, ge=1, le=100_000)
    min_samples_each: int = Field(default=5, ge=1, le=100_000)
    monte_carlo_draws: int = Field(default=4000, ge=100, le=1_000_000)
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=1.0, gt=0)
    seed: int | None = None
    definitions: dict[str, ExperimentConfig] = Field(default_factory=dict)

    @field_validator("reask_weight")
    @classmethod
    def _some_weight(cls, value: float, info: Any) -> float:
        if value + info.data.get("judge_weight", 0.0) + info.data.get("reaction_weight", 0.0) <= 0:
            raise ValueError("judge_weight, reaction_weight and reask_weight cannot all be 0")
        return value


class PromptlyConfig(StrictModel):
    """The answer-quality machinery: ultraprompt spec override, loops, judge and experiments."""

    spec: Path | None = None
    loop: str = "generate -> judge -> refine until quality >= 0.8 max 2 -> verify"
    agent_loops: dict[str, str] = Field(default_factory=dict)
    judge: Literal["auto", "heuristic", "llm"] = "auto"
    experiments: ExperimentsConfig = Field(default_factory=ExperimentsConfig)

    @field_validator("loop")
    @classmethod
    def _loop_parses(cls, value: str) -> str:
        return _check_loop(value) or value

    @field_validator("spec")
    @classmethod
    def _spec_loads(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        from hololoom_core.promptly.spec import SpecError, load_spec

        try:
            load_spec(value)
        except SpecError as exc:
            raise ValueError(f"ultraprompt spec problem: {exc}")
        return value

    @field_validator("agent_loops")
    @classmethod
    def _agent_loops(cls, value: dict[str, str]) -> dict[str, str]:
        for agent, loop in value.items():
            try:
                _check_loop(loop)
            except ValueError as exc:
                raise ValueError(f"loop of agent '{agent}': {exc}")
        return value
class ReviewConfig(StrictModel):
    """Code review (`!review`, `hololoom review`): which analysers run and how findings are filtered."""

    bandit: bool = True
    ruff: bool = True
    detect_secrets: bool = True
    ruff_select: list[str] = Field(default_factory=lambda: ["E4", "E7", "E9", "F", "B", "W", "UP", "SIM", "C4"])
    ruff_target_version: str = "py311"
    bandit_skip: list[str] = Field(default_factory=lambda: ["B101", "B404", "B603"])
    bandit_min_severity: Literal["low", "medium", "high"] = "low"
    max_bytes: int = Field(default=500_000, ge=1_000, le=20_000_000)
    max_findings: int = Field(default=40, ge=1, le=1000)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    llm_summary: bool = True
    summary_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    summary_code_chars: int = Field(default=6000, ge=0, le=200_000)

    @field_validator("ruff_select")
    @classmethod
    def _rule_selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            if not selector.isalnum() or not selector[:1].isalpha() or selector.upper() != selector:
                raise ValueError(f"'{selector}' is not a ruff rule selector; use codes like F, E9, B006 or ALL")
        if not value:
            raise ValueError("must name at least one ruff rule selector, for example [F, E9]")
        return value

    @field_validator("bandit_skip")
    @classmethod
    def _bandit_ids(cls, value: list[str]) -> list[str]:
        for test_id in value:
            if not (len(test_id) == 4 and test_id[0] == "B" and test_id[1:].isdigit()):
                raise ValueError(f"'{test_id}' is not a bandit test id; use ids like B101")
        return value

    @field_validator("ruff_target_version")
    @classmethod
    def _target_version(cls, value: str) -> str:
        if not (value.startswith("py3") and value[3:].isdigit()):
            raise ValueError("must look like py311")
        return value


class WorkflowsConfig(StrictModel):
    """Workflow automation: where user workflows live, what steps may reach, and the scheduler."""

    enabled: bool = True
    directory: Path | None = None
    load_shipped: bool = True
    default_room: str = "#ops"
    timezone: str = "UTC"
    tick_seconds: float = Field(default=5.0, gt=0, le=3600)
    default_approval_timeout: str = "1h"
    trigger_cooldown: str = "5m"
    http_allow_hosts: list[str] = Field(default_factory=list)
    http_timeout_s: float = Field(default=15.0, gt=0, le=600)
    shell_allow: list[str] = Field(default_factory=list)
    shell_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_steps_per_run: int = Field(default=500, ge=1, le=100_000)
    max_call_depth: int = Field(default=5, ge=1, le=20)
    lease_seconds: float = Field(default=300.0, ge=10, le=86_400)

    @field_validator("default_approval_timeout", "trigger_cooldown")
    @classmethod
    def _duration(cls, value: str) -> str:
        from hololoom_core.ops.workflows.durations import parse_duration

        parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not a known time zone; use a name like UTC or Europe/Berlin")
        return value

    @field_validator("http_allow_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not host or "/" in host or " " in host:
                raise ValueError(f"'{host}' is not a host name; list hosts like hooks.example.org or *.internal")
        return [host.lower() for host in value]
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")

DEFAULT_ROLE_INSTRUCTIONS: dict[str, str] = {
    "commander": "You lead the response: set priorities, hand out work, decide on mitigations and escalation. "
    "Post a status update (`!incident status conditions: ... actions: ... needs: ...`) at least every "
    "30 minutes and keep everyone focused on restoring service.",
    "scribe": "You keep the record: tag findings and decisions into the timeline (`!incident note ...`), "
    "capture action items with owners (`!incident action @owner ...`) and note when key changes happen.",
    "comms": "You own communication outside the response: update stakeholders and the status page on a steady "
    "cadence, keep questions away from responders, and announce the resolution.",
}


class IncidentTarget(StrictModel):
    """How fast an incident of one severity should be acknowledged and resolved (minutes)."""

    acknowledge_minutes: float = Field(gt=0, le=100_000)
    resolve_minutes: float = Field(gt=0, le=1_000_000)


def default_incident_targets() -> dict[str, IncidentTarget]:
    return {
        "sev1": IncidentTarget(acknowledge_minutes=5, resolve_minutes=60),
        "sev2": IncidentTarget(acknowledge_minutes=15, resolve_minutes=240),
        "sev3": IncidentTarget(acknowledge_minutes=60, resolve_minutes=1440),
        "sev4": IncidentTarget(acknowledge_minutes=240, resolve_minutes=4320),
    }


class IncidentsConfig(StrictModel):
    """Incident management: where an incident talks, its roles, severity targets, what joins the timeline."""

    channel: Literal["thread", "room"] = "thread"
    default_severity: Literal["sev1", "sev2", "sev3", "sev4"] = "sev3"
    role_instructions: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROLE_INSTRUCTIONS))
    targets: dict[str, IncidentTarget] = Field(default_factory=default_incident_targets)
    related_limit: int = Field(default=3, ge=0, le=20)
    adopt_external_ids: bool = True
    backfill_minutes: float = Field(default=60, ge=0, le=10_080)

    @field_validator("role_instructions")
    @classmethod
    def _roles_are_words(cls, value: dict[str, str]) -> dict[str, str]:
        for role, text in value.items():
            if not role.isidentifier() or role != role.lower():
                raise ValueError(f"role '{role}' must be one lower-case word, for example commander")
            if not str(text).strip():
                raise ValueError(f"role '{role}' needs instructions text")
        if "commander" not in value:
            raise ValueError("must include the 'commander' role")
        return value

    @field_validator("targets")
    @classmethod
    def _targets_known_severities(cls, value: dict[str, IncidentTarget]) -> dict[str, IncidentTarget]:
        unknown = [key for key in value if key not in SEVERITIES]
        if unknown:
            raise ValueError(f"unknown severity '{unknown[0]}' (use sev1, sev2, sev3, sev4)")
        return value


class AnswerCacheConfig(StrictModel):
    """The answer cache: reuse an answer while the question and its retrieved context are unchanged."""

    enabled: bool = True
    ttl_s: float = Field(default=3600.0, gt=0, le=30 * 86400)
    max_entries: int = Field(default=2000, ge=1, le=1_000_000)
    min_quality: float = Field(default=0.0, ge=0, le=1)


class OpsConfig(StrictModel):
    """Operations: command plugins and YAML aliases, incidents, the answer cache."""

    plugins_dir: Path | None = None
    aliases_dir: Path | None = None
    entry_point_plugins: bool = True
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    answer_cache: AnswerCacheConfig = Field(default_factory=AnswerCacheConfig)
class MemoryConfig(StrictModel):
    """Knowledge-graph memory, hybrid recall and the proactive agent (patterns, suggestions)."""

    patterns_file: Path | None = None
    patterns_check_s: float = Field(default=1.0, ge=0, le=3600)
    suggestions: bool = True
    suggestion_interval_s: float = Field(default=900.0, ge=0)
    recall_k: int = Field(default=8, ge=1, le=100)
    min_similarity: float = Field(default=0.5, ge=0, le=1)
    embed_batch_size: int = Field(default=256, ge=1, le=8192)
    embed_delay_s: float = Field(default=0.2, ge=0, le=60)


class Config(StrictModel):
    """The whole configuration tree."""

    matrix: MatrixConfig = Field(default_factory=MatrixConfig)
    hololoom: HololoomConfig = Field(default_factory=HololoomConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    acl: AclConfig = Field(default_factory=AclConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    answer: AnswerConfig = Field(default_factory=AnswerConfig)
    promptly: PromptlyConfig = Field(default_factory=PromptlyConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    workflows: WorkflowsConfig = Field(default_factory=WorkflowsConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)

    # Where the configuration came from; not a YAML key.
    source: Path | None = Field(default=None, exclude=True)

    @property
    def data_dir(self) -> Path:
        """The directory holding the SQLite file and other state."""
        if self.hololoom.data_dir is not None:
            return Path(self.hololoom.data_dir).expanduser()
        return Path(platformdirs.user_data_dir(APP_NAME))

    @property
    def database_path(self) -> Path:
        """The SQLite file of this installation."""
        return self.data_dir / "hololoom.sqlite3"

    @property
    def plugins_dir(self) -> Path:
        """Where Python command plugins are looked for (`ops.plugins_dir`, default `<data dir>/plugins`)."""
        return Path(self.ops.plugins_dir).expanduser() if self.ops.plugins_dir else self.data_dir / "plugins"

    @property
    def aliases_dir(self) -> Path:
        """Where YAML command aliases are looked for (`ops.aliases_dir`, default `<data dir>/aliases`)."""
        return Path(self.ops.aliases_dir).expanduser() if self.ops.aliases_dir else self.data_dir / "aliases"

    @property
    def mode(self) -> str:
        """`matrix` when Matrix login details are configured, else `offline`."""
        return "matrix" if self.matrix.configured else "offline"


def yaml_line(document: yaml.Node | None, location: tuple[Any, ...]) -> int | None:
    """Return the 1-based line of the YAML node at `location` (keys and indexes), or the nearest parent."""
    node = document
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    found = (key_node, value_node)
                    break
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _describe_validation_error(error: ValidationError, path: Path, document: yaml.Node | None) -> str:
    """Turn the first pydantic error into one operator-facing line."""
    first = error.errors()[0]
    location = tuple(part for part in first["loc"] if not (isinstance(part, str) and part.startswith("function-")))
    key = ".".join(str(part) for part in location) or "(top level)"
    line = yaml_line(document, location)
    where = f"{path}:{line}" if line else str(path)
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = location[:-1]
        model: Any = Config
        for part in parent:
            field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
            annotation = field.annotation if field else None
            model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
            if model is None:
                break
        known = ", ".join(sorted(model.model_fields)) if model is not None else ""
        fix = f"remove it or use one of: {known}" if known else "remove it"
        return f"{where}: unknown key '{key}' ({fix}); see config.example.yaml"
    message = first["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    more = f" (and {len(error.errors()) - 1} more problem(s))" if len(error.errors()) > 1 else ""
    return f"{where}: '{key}' {message}; fix it as config.example.yaml shows{more}"


def _read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """Parse a YAML file into data plus its node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; create it from config.example.yaml or drop --config")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc}); check its permissions and encoding")
    try:
        document = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: YAML syntax error ({problem}); check indentation and quoting on that line")
    if data is None:
        return {}, document
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the top level must be a mapping of sections (matrix:, hololoom:, llm:, ...)")
    return data, document


def _apply_environment(data: dict[str, Any], environ: dict[str, str]) -> None:
    """Overlay the documented environment variables onto raw config data."""
    overrides = {
        "MATRIX_HOMESERVER": ("matrix", "homeserver"),
        "MATRIX_USER_ID": ("matrix", "user_id"),
        "MATRIX_ACCESS_TOKEN": ("matrix", "access_token"),
        "MATRIX_PASSWORD": ("matrix", "password"),
        "HOLOLOOM_DATA_DIR": ("hololoom", "data_dir"),
        "HOLOLOOM_CONFIG_MODE": ("hololoom", "config_mode"),
        "HOLOLOOM_LLM_PROVIDER": ("llm", "provider"),
        "OLLAMA_HOST": ("llm", "host"),
    }
    for variable, (section, key) in overrides.items():
        value = environ.get(variable)
        if value:
            section_data = data.setdefault(section, {})
            if not isinstance(section_data, dict):
                continue
            section_data[key] = value


def find_config_path(explicit: str | Path | None, environ: dict[str, str] | None = None) -> Path | None:
    """Pick the config file: `--config`, else `HOLOLOOM_CONFIG`, else one in the user config dir, else none."""
    environ = dict(os.environ) if environ is None else environ
    if explicit:
        return Path(explicit).expanduser()
    if environ.get("HOLOLOOM_CONFIG"):
        return Path(environ["HOLOLOOM_CONFIG"]).expanduser()
    config_dir = Path(platformdirs.user_config_dir(APP_NAME))
    for name in DEFAULT_CONFIG_NAMES:
        candidate = config_dir / name
        if candidate.is_file():
            return candidate
    return None


def load_config(
    path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    environ: dict[str, str] | None = None,
) -> Config:
    """Load, overlay environment and command-line overrides, and validate the configuration."""
    environ = dict(os.environ) if environ is None else environ
    config_path = find_config_path(path, environ)
    data: dict[str, Any] = {}
    document: yaml.Node | None = None
    if config_path is not None:
        data, document = _read_yaml(config_path)
    _apply_environment(data, environ)
    if data_dir is not None:
        section = data.setdefault("hololoom", {})
        if isinstance(section, dict):
            section["data_dir"] = str(data_dir)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, config_path or Path("<environment>"), document))
    config.source = config_path
    return config
