"""The ultraprompt spec: the answer structure as data (sections, per-agent additions, options).

The package ships `specs/default.yaml`; `promptly.spec` in the config names an override file that
is merged over it (sections and agents by name, options key by key). Experiment variants can carry
their own small override (`spec:` in a variant) merged the same way. A bad spec raises `SpecError`
with one line naming the file, the key and the fix.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hololoom_core.text.clean import UnreadableText, read_text_file
from hololoom_core.yamldoc import YamlSyntaxError, parse_yaml, yaml_line

DEFAULT_SPEC_PATH = Path(__file__).parent / "specs" / "default.yaml"
SYSTEM_PLACEHOLDERS = frozenset({"agent", "agent_brief"})
USER_PLACEHOLDERS = frozenset({"question", "sources", "sections", "instructions", "history", "agent", "agent_brief"})
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_]+)\s*\}\}")


class SpecError(Exception):
    """An ultraprompt spec problem, described in one line (file, key, fix)."""


def canonical_name(name: str) -> str:
    """The canonical form of a section name: upper case, inner spaces collapsed, 'TLDR' spelled 'TL;DR'."""
    upper = " ".join(name.upper().split())
    squeezed = re.sub(r"[\s;]+", "", upper)
    return "TL;DR" if squeezed == "TLDR" else upper


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SectionSpec(_Strict):
    """One answer section: its name, heading, what it must contain, and how it may be repaired."""

    name: str
    heading: str = ""
    must_contain: str
    aliases: list[str] = Field(default_factory=list)
    required: bool = True
    inline: bool = False
    max_words: int | None = Field(default=None, ge=1, le=2000)
    synthesise_from: str | None = None
    verification_only: bool = False

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        name = canonical_name(value)
        if not name or not re.fullmatch(r"[A-Z][A-Z0-9 ;&/-]{0,30}", name):
            raise ValueError("must be a short upper-case name such as PLAN or TL;DR")
        return name

    @field_validator("aliases")
    @classmethod
    def _aliases_canonical(cls, value: list[str]) -> list[str]:
        return [canonical_name(alias) for alias in value if alias.strip()]

    @field_validator("synthesise_from")
    @classmethod
    def _source_canonical(cls, value: str | None) -> str | None:
        return canonical_name(value) if value else value

    @model_validator(mode="after")
    def _default_heading(self) -> SectionSpec:
        if not self.heading:
            self.heading = f"**{self.name}:**" if self.inline else f"### {self.name}"
        return self


class AgentSpec(_Strict):
    """What one agent adds to the structure: instructions and extra sections (placed before inline ones)."""

    instructions: str = ""
    sections: list[SectionSpec] = Field(default_factory=list)


class SpecOptions(_Strict):
    """Switches: verification on/off, plan-then-answer chaining, retries, prompt source budget."""

    verification: bool = True
    chaining: bool = False
    retries: int = Field(default=1, ge=0, le=5)
    max_sources_in_prompt: int = Field(default=8, ge=0, le=50)
    max_source_chars: int = Field(default=600, ge=50, le=20000)


class UltrapromptSpec(_Strict):
    """The whole answer structure: prompt templates, sections, agent additions and options."""

    version: int = 1
    name: str = "default"
    system: str
    user_template: str
    sections: list[SectionSpec]
    agents: dict[str, AgentSpec] = Field(default_factory=dict)
    options: SpecOptions = Field(default_factory=SpecOptions)

    @field_validator("system")
    @classmethod
    def _system_placeholders(cls, value: str) -> str:
        _check_placeholders(value, SYSTEM_PLACEHOLDERS)
        return value

    @field_validator("user_template")
    @classmethod
    def _user_placeholders(cls, value: str) -> str:
        _check_placeholders(value, USER_PLACEHOLDERS)
        if "{{question}}" not in value.replace(" ", ""):
            raise ValueError("must contain {{question}}")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> UltrapromptSpec:
        all_sections = list(self.sections) + [s for agent in self.agents.values() for s in agent.sections]
        names = [s.name for s in self.sections]
        if len(set(names)) != len(names):
            raise ValueError(f"section names must be unique, got {', '.join(names)}")
        if "ANSWER" not in names:
            raise ValueError("a section named ANSWER is required (repairs and the judge rely on it)")
        known = set(names) | {s.name for s in all_sections}
        for section in all_sections:
            if section.synthesise_from and section.synthesise_from not in known:
                raise ValueError(f"section {section.name}: synthesise_from names unknown section {section.synthesise_from}")
            if section.synthesise_from == section.name:
                raise ValueError(f"section {section.name}: cannot be synthesised from itself")
        return self

    # -- queries -------------------------------------------------------------------------------

    def sections_for(self, agent: str | None = None) -> list[SectionSpec]:
        """The sections an answer by `agent` must have, in order (agent extras go before inline sections)."""
        extra = list(self.agents[agent].sections) if agent in self.agents else []
        base = [s for s in self.sections if all(s.name != e.name for e in extra)]
        if not extra:
            return base
        inline_at = next((i for i, s in enumerate(base) if s.inline), len(base))
        return base[:inline_at] + extra + base[inline_at:]

    def required_names(self, agent: str | None = None) -> list[str]:
        """Names of the sections that must be present (VERIFY only while verification is on)."""
        return [
            s.name
            for s in self.sections_for(agent)
            if s.required and (self.options.verification or not s.verification_only)
        ]

    def agent_instructions(self, agent: str | None) -> str:
        """The agent's extra instructions ('' when it has none)."""
        return self.agents[agent].instructions.strip() if agent in self.agents else ""

    def merged(self, override: dict[str, Any] | None, origin: str = "override") -> UltrapromptSpec:
        """A new spec with `override` (plain data) merged over this one; raises SpecError when invalid."""
        if not override:
            return self
        data = merge_spec_data(self.model_dump(), override)
        return validate_spec(data, origin)


def _check_placeholders(text: str, allowed: frozenset[str]) -> None:
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in allowed})
    if unknown:
        raise ValueError(
            "unknown placeholder(s) " + ", ".join("{{" + u + "}}" for u in unknown)
            + "; allowed: " + ", ".join("{{" + a + "}}" for a in sorted(allowed))
        )


def fill_template(template: str, values: dict[str, str]) -> str:
    """Replace `{{name}}` placeholders; unknown names were rejected when the spec was loaded."""
    return _PLACEHOLDER.sub(lambda match: values.get(match.group(1), ""), template)


def _merge_named(base: list[dict[str, Any]], override: list[Any], where: str) -> list[dict[str, Any]]:
    """Merge a list of named mappings: same name updates in place, new names are inserted before inline ones."""
    result = [dict(item) for item in base]
    for item in override:
        if not isinstance(item, dict) or "name" not in item:
            raise SpecError(f"{where}: every entry needs a 'name' (for example - name: PLAN)")
        name = canonical_name(str(item["name"]))
        for existing in result:
            if canonical_name(str(existing.get("name", ""))) == name:
                existing.update({k: v for k, v in item.items() if k != "name"})
                break
        else:
            inline_at = next((i for i, s in enumerate(result) if s.get("inline")), len(result))
            result.insert(inline_at, dict(item))
    return result


def merge_spec_data(base: dict[str, Any], override: dict[str, Any], where: str = "spec") -> dict[str, Any]:
    """Merge override data over base data: sections by name, agents by key, options and scalars replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key == "sections" and isinstance(value, list):
            merged["sections"] = _merge_named(merged.get("sections", []), value, f"{where}: sections")
        elif key == "agents" and isinstance(value, dict):
            agents = merged.setdefault("agents", {})
            for agent, agent_value in value.items():
                if not isinstance(agent_value, dict):
                    raise SpecError(f"{where}: agents.{agent} must be a mapping (instructions:, sections:)")
                current = agents.setdefault(agent, {"instructions": "", "sections": []})
                if "instructions" in agent_value:
                    current["instructions"] = agent_value["instructions"]
                if "sections" in agent_value:
                    current["sections"] = _merge_named(
                        current.get("sections", []), agent_value["sections"] or [], f"{where}: agents.{agent}.sections"
                    )
                unknown = set(agent_value) - {"instructions", "sections"}
                if unknown:
                    raise SpecError(f"{where}: agents.{agent}: unknown key(s) {', '.join(sorted(unknown))} "
                                    "(use instructions:, sections:)")
        elif key == "options" and isinstance(value, dict):
            merged.setdefault("options", {}).update(value)
        else:
            merged[key] = value
    return merged


def validate_spec(data: Any, origin: str, document: yaml.Node | None = None) -> UltrapromptSpec:
    """Validate spec data; a problem becomes one SpecError line naming origin, key (and line) and the fix."""
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: an ultraprompt spec must be a mapping (system:, user_template:, sections:, ...)")
    try:
        return UltrapromptSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = tuple(first["loc"])
        key = ".".join(str(part) for part in location) or "(top level)"
        line = yaml_line(document, location) if document is not None else None
        where = f"{origin}:{line}" if line else origin
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "is not a spec key"
        return_hint = "see hololoom_core/answers/specs/default.yaml"
        raise SpecError(f"{where}: '{key}' {message}; {return_hint}") from None


def _read(path: Path) -> tuple[Any, yaml.Node | None]:
    try:
        text = read_text_file(path)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the ultraprompt spec ({exc.strerror or exc}); check promptly.spec")
    except UnreadableText as exc:
        raise SpecError(f"{path}: the ultraprompt spec is {exc}")
    try:
        return parse_yaml(text)
    except YamlSyntaxError as exc:
        raise SpecError(f"{exc.where(path)}: YAML syntax error in the ultraprompt spec ({exc.problem})")


@lru_cache(maxsize=1)
def default_spec() -> UltrapromptSpec:
    """The spec shipped in the package."""
    data, document = _read(DEFAULT_SPEC_PATH)
    return validate_spec(data, str(DEFAULT_SPEC_PATH), document)


def load_spec(override_path: str | Path | None = None) -> UltrapromptSpec:
    """The shipped spec, with the override file (if any) merged over it.

    Merged specs are cached by the override's path, mtime and size: config validation and every engine
    of a process share one parse until the file changes. Specs are read-only once built.
    """
    base = default_spec()
    if override_path is None:
        return base
    path = Path(override_path).expanduser()
    try:
        status = path.stat()
        stamp: tuple[int, int] | None = (status.st_mtime_ns, status.st_size)
    except OSError:
        stamp = None  # unreadable: `_read` reports it
    key = str(path.resolve())
    cached = _MERGED_SPECS.get(key)
    if stamp is not None and cached is not None and cached[0] == stamp:
        return cached[1]
    spec = _load_override(base, path)
    if stamp is not None:
        _MERGED_SPECS[key] = (stamp, spec)
    return spec


_MERGED_SPECS: dict[str, tuple[tuple[int, int], UltrapromptSpec]] = {}


def _load_override(base: UltrapromptSpec, path: Path) -> UltrapromptSpec:
    """Read the override file and merge it over the shipped spec."""
    data, _document = _read(path)
    if data is None:
        return base
    if not isinstance(data, dict):
        raise SpecError(f"{path}:1: the spec override must be a mapping (sections:, agents:, options:, ...)")
    merged = merge_spec_data(base.model_dump(), data, str(path))
    return validate_spec(merged, str(path))
