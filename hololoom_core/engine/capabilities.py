"""Typed capabilities: what each part of HoloLoom needs, and what it provides through the engine's slots.

A capability is an object with a `name`, the names of the capabilities it `needs`, the tables it
owns (`migrations`), its `doctor_checks`, and an `install(engine)` that fills typed slots: the
retriever chain, the judge, the loop, the router, the quality predictor, commands, keepers,
detectors, suggesters, feedback observers, overview panels and life-cycle hooks. The engine
sorts capabilities by their needs (a topological sort), lets each `prepare` (declare its tables;
the plugin loader imports plugins here so they can declare theirs), runs every migration once,
and only then calls each `install`.

Services a capability offers to the others (the memory service, the incident service ...) are
provided by type and fetched by type: `engine.provide(service)`, `engine.capability(MemoryService)`.
"""

from __future__ import annotations

import graphlib
import importlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from hololoom_core.config import Config
from hololoom_core.store.db import Migration

if TYPE_CHECKING:
    from typing_extensions import TypeForm

    from hololoom_core.engine.pipeline import Engine

T = TypeVar("T")


class CapabilityError(Exception):
    """A capability set that cannot be installed: a missing or cyclic need, or a duplicate name."""


class CapabilityMissing(LookupError):
    """A service was asked for that no installed capability provides."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One `hololoom doctor` check's outcome: `ok`, `warn` or `fail`, with a one-line detail."""

    name: str
    status: str
    detail: str


DoctorCheck = Callable[[Config], Awaitable[CheckResult]]
OverviewPanel = Callable[["Engine"], Any]


class Capability:
    """One part of HoloLoom: a name, what it needs, what it owns, and an installer that fills the engine's slots.

    Subclasses set the class attributes and override `install`; everything they register goes
    through typed slots on the engine, never through a shared dict.
    """

    name: ClassVar[str] = ""
    needs: ClassVar[tuple[str, ...]] = ()  # installed before this one; missing -> CapabilityError
    after: ClassVar[tuple[str, ...]] = ()  # installed before this one when present; "*" = after all the others
    migrations: ClassVar[Mapping[str, Sequence[Migration]]] = {}
    doctor_checks: ClassVar[tuple[DoctorCheck, ...]] = ()

    def prepare(self, engine: Engine) -> None:
        """Declare tables before any exists: adds `migrations`; override to add more (e.g. plugins' tables)."""
        for component, steps in self.migrations.items():
            engine.migrations.add(component, steps)

    def install(self, engine: Engine) -> None:
        """Register what this capability provides in the engine's slots; every table exists by now."""

    def __repr__(self) -> str:
        return f"<capability {self.name}>"


class ServiceRegistry:
    """Services offered by capabilities, stored and fetched by type (a class or a Protocol).

    Lookups take a `TypeForm` rather than a `type`: a Protocol or an abstract class is a fine key
    here (nothing is instantiated), but the type checker refuses one where `type[T]` is expected.
    """

    def __init__(self) -> None:
        self._services: dict[object, Any] = {}

    def provide(self, service: Any, as_type: TypeForm[Any] | None = None) -> None:
        """Offer `service` under `as_type` (default: its own class); a later call replaces an earlier one."""
        self._services[as_type or type(service)] = service

    def withdraw(self, as_type: TypeForm[Any]) -> Any:
        """Remove and return the service offered under `as_type` (None when there is none)."""
        return self._services.pop(as_type, None)

    def find(self, kind: TypeForm[T]) -> T | None:
        """The service offered under `kind`, or None."""
        service = self._services.get(kind)
        return service

    def get(self, kind: TypeForm[T]) -> T:
        """The service offered under `kind`; raises `CapabilityMissing` naming it when none is installed."""
        service = self._services.get(kind)
        if service is None:
            raise CapabilityMissing(f"no installed capability provides {getattr(kind, '__name__', kind)}")
        return service

    def __contains__(self, kind: object) -> bool:
        return kind in self._services


class MigrationSlot:
    """The tables every capability and plugin owns, collected before the store migrates."""

    def __init__(self) -> None:
        self._components: dict[str, tuple[Migration, ...]] = {}

    def add(self, component: str, steps: Sequence[Migration]) -> None:
        """Own `component`'s tables: an ordered list of migrations (SQL scripts or callables)."""
        existing = self._components.get(component)
        if existing is not None and existing != tuple(steps):
            raise CapabilityError(f"two capabilities declare different migrations for table group '{component}'")
        self._components[component] = tuple(steps)

    def components(self) -> dict[str, tuple[Migration, ...]]:
        """Every component's migrations, in the order they were added."""
        return dict(self._components)


def resolve_order(capabilities: Iterable[Capability]) -> list[Capability]:
    """The capabilities sorted so that each comes after what it needs; ties keep the given order.

    `needs` must be installed; `after` only orders (a name that is absent is ignored, `"*"` means every
    capability that does not itself say `"*"`). Raises `CapabilityError` with one clear line on a
    duplicate name, a missing need or a cycle.
    """
    by_name: dict[str, Capability] = {}
    for capability in capabilities:
        if not capability.name:
            raise CapabilityError(f"{type(capability).__name__} has no name; set `name = \"...\"` on the class")
        if capability.name in by_name:
            raise CapabilityError(f"two capabilities are named '{capability.name}'")
        by_name[capability.name] = capability
    for capability in by_name.values():
        missing = [need for need in capability.needs if need not in by_name]
        if missing:
            raise CapabilityError(
                f"capability '{capability.name}' needs {', '.join(repr(m) for m in missing)}, which is not installed"
            )
    position = {name: index for index, name in enumerate(by_name)}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for capability in by_name.values():
        sorter.add(capability.name, *capability.needs)
        if "*" in capability.after:
            sorter.add(capability.name, *(name for name, other in by_name.items() if "*" not in other.after))
        sorter.add(capability.name, *(name for name in capability.after if name in by_name))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise CapabilityError("capabilities need each other in a cycle: " + " -> ".join(cycle)) from None
    ordered: list[Capability] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=position.__getitem__)
        ordered.extend(by_name[name] for name in ready)
        sorter.done(*ready)
    return ordered


# The capabilities every engine gets unless the caller chooses: `module:Class`, loaded by name so the
# engine does not import the feature packages above it. The order here does not matter: each
# capability declares what it needs, and the engine sorts them (see engine/capabilities.py).
CAPABILITIES: list[str] = [
    "hololoom_core.engine.builtin_commands:BuiltinCommands",
    "hololoom_core.promptly.capability:PromptlyCapability",
    "hololoom_core.ops.incidents:IncidentsCapability",
    "hololoom_core.ops.answer_cache:AnswerCacheCapability",
    "hololoom_core.ops.dashboard:DashboardCapability",
    "hololoom_core.ops.review.commands:ReviewCapability",
    "hololoom_core.ops.workflows.commands:WorkflowsCapability",
    "hololoom_core.transport.matrix.capability:MatrixCapability",
    "hololoom_core.memory.capability:MemoryCapability",
    "hololoom_core.ops.commands:CommandExtensions",
    "hololoom_core.marketplace.capability:MarketplaceCapability",
    "hololoom_core.quality.capability:QualityCapability",
    "hololoom_core.learning:TeamLearningCapability",
    "hololoom_core.agents.capability:AgentsCapability",
    "hololoom_core.improving.capability:ImprovingCapability",
]


def load_capability(spec: Capability | str) -> Capability:
    """A capability object from an instance or a `module:Class` name (a bad name is one clear error)."""
    if isinstance(spec, Capability):
        return spec
    module_name, _, class_name = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise CapabilityError(f"cannot load capability '{spec}' ({exc}); use 'package.module:ClassName'") from None
    capability = factory()
    if not isinstance(capability, Capability):
        raise CapabilityError(f"'{spec}' is not a Capability subclass")
    return capability


def default_capabilities() -> list[Capability]:
    """Fresh objects for every capability in `CAPABILITIES`, sorted by what they need."""
    return resolve_order(load_capability(spec) for spec in CAPABILITIES)
