"""The marketplace service: search registries, resolve and install packages atomically, update, roll back, rate.

Every install goes the same way: resolve the range (and dependencies) against verified indexes,
download each tarball and check its sha256 against the index, unpack it safely, check every file
against the manifest, validate it like a local file under the local policy, dry-run the workflow
library with it in place, then move it into place with one rename and record it in the lockfile.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.manifest import MANIFEST_NAME, PackageManifest, parse_manifest
from hololoom_core.marketplace.policy import PackagePermissions, check_package_files
from hololoom_core.marketplace.ratings import RatingSummary, summarise
from hololoom_core.marketplace.registry import RegistrySource, VerifiedIndex, load_index
from hololoom_core.marketplace.storage import MarketplaceStorage, remove_tree
from hololoom_core.marketplace.unpack import UnpackLimits, check_file_hashes, read_package, write_files
from hololoom_core.ops.workflows.commands import package_directories, user_directory
from hololoom_core.ops.workflows.library import WorkflowLibrary

if TYPE_CHECKING:
    from hololoom_core.config import Config

DEFAULT_REGISTRY_DIR = Path(__file__).resolve().parent / "default_registry"
DEFAULT_REGISTRY_NAME = "default"
INDEX_MAX_AGE_S = 60.0  # a service re-reads the registries' indexes when its copy is older than this
Progress = Callable[[str], None]


def hololoom_version() -> str:
    """The running HoloLoom version (for `requires_hololoom`)."""
    from hololoom_core import __version__

    return __version__


def default_registry_key() -> tuple[str, str]:
    """The shipped registry's public key (id, base64); its private key is never in the repository."""
    data = json.loads((DEFAULT_REGISTRY_DIR / "public-key.json").read_text(encoding="utf-8"))
    return str(data["key_id"]), str(data["public_key"])


def parse_request(text: str) -> tuple[str, SpecifierSet]:
    """`name`, `name@>=1.0,<2` or `name@1.2.0` as a name and a range."""
    name, _, spec = text.partition("@")
    name = name.strip().lower()
    spec = spec.strip()
    if spec and spec[0].isdigit():
        spec = "==" + spec
    try:
        return name, SpecifierSet(spec)
    except InvalidSpecifier:
        raise MarketplaceError(f"'{text}': '{spec}' is not a version range (try name@>=1.0,<2 or name@1.2.0)") \
            from None


@dataclass(slots=True)
class Candidate:
    """One version of a package offered by one registry."""

    name: str
    version: Version
    registry: str
    entry: dict[str, Any]
    signer: str | None


@dataclass(slots=True)
class PreparedPackage:
    """A downloaded, verified, unpacked and validated package version, waiting in staging."""

    candidate: Candidate
    manifest: PackageManifest
    sha256: str
    staging: Path | None
    permissions: PackagePermissions
    files: list[str]
    changelog: str = ""
    already_installed: bool = False


@dataclass(slots=True)
class InstallPlan:
    """What an install or update will do, shown for confirmation before `commit`."""

    request: str
    packages: list[PreparedPackage]
    replaces: dict[str, str] = field(default_factory=dict)  # name -> version installed now
    auto_update: bool = False
    spec: str = ""

    @property
    def changes(self) -> list[PreparedPackage]:
        """The packages that will actually change."""
        return [package for package in self.packages if not package.already_installed]

    def describe(self) -> str:
        """The confirmation text: versions, sources, signers and every power the packages get."""
        if not self.changes:
            return f"Nothing to do: {self.request} is already installed."
        lines: list[str] = []
        for package in self.changes:
            candidate = package.candidate
            old = self.replaces.get(candidate.name)
            verb = f"update {old} →" if old else "install"
            signed = f"signed by {candidate.signer}" if candidate.signer else "UNVERIFIED (unsigned registry)"
            lines.append(f"**{verb} {candidate.name} {candidate.version}** from {candidate.registry} ({signed}), "
                         f"sha256 {package.sha256[:12]}…")
            lines += [f"  - {line}" for line in package.permissions.lines()]
        return "\n".join(lines)


@dataclass(slots=True)
class SearchHit:
    """One package in search results."""

    name: str
    latest: str
    summary: str
    category: str
    tags: list[str]
    registry: str
    verified: bool
    rating: RatingSummary
    teams: int
    installed: str | None
    update_available: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "latest": self.latest, "summary": self.summary, "category": self.category,
                "tags": self.tags, "registry": self.registry, "verified": self.verified,
                "rating_mean": self.rating.mean, "ratings": self.rating.count,
                "rating_wilson": round(self.rating.wilson, 4), "teams": self.teams, "installed": self.installed,
                "update_available": self.update_available}


class Marketplace:
    """Registries, installed packages and ratings of one installation (its data dir)."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.settings = config.marketplace
        self.clock = clock
        self.storage = MarketplaceStorage(config.data_dir)
        self.limits = UnpackLimits(self.settings.max_files, self.settings.max_unpacked_bytes)
        self.problems: dict[str, str] = {}  # registry -> why it was skipped in the last refresh
        self._indexes: dict[str, VerifiedIndex] | None = None
        self._sources: list[RegistrySource] | None = None
        self._indexes_at = 0.0
        self._downloads: dict[tuple[str, str, str], tuple[bytes, dict[str, bytes], PackageManifest]] = {}

    # -- registries --------------------------------------------------------------------------

    def sources(self) -> list[RegistrySource]:
        """The configured registries, the shipped default first (when enabled); built once per service."""
        if self._sources is None:
            self._sources = self._build_sources()
        return self._sources

    def _build_sources(self) -> list[RegistrySource]:
        trusted = {key.id: key.public_key for key in self.settings.trusted_keys}
        result = []
        timeout = self.settings.http_timeout_s
        if self.settings.default_registry:
            key_id, public_key = default_registry_key()
            result.append(RegistrySource(DEFAULT_REGISTRY_NAME, str(DEFAULT_REGISTRY_DIR),
                                         trusted={**trusted, key_id: public_key}, timeout_s=timeout,
                                         read_only=True))  # shipped inside HoloLoom: never written
        result += [RegistrySource(registry.name, registry.url, allow_unsigned=registry.allow_unsigned,
                                  trusted=trusted, timeout_s=timeout) for registry in self.settings.registries]
        return result

    def source(self, name: str) -> RegistrySource:
        """The registry with this name."""
        for source in self.sources():
            if source.name == name:
                return source
        known = ", ".join(source.name for source in self.sources()) or "none"
        raise MarketplaceError(f"no registry named '{name}' (configured: {known}; see marketplace.registries)")

    def indexes(self, *, refresh: bool = False) -> dict[str, VerifiedIndex]:
        """Every registry's verified index; a registry that fails a check is skipped and listed in `problems`."""
        if self._indexes is not None and not refresh and self.clock() - self._indexes_at < INDEX_MAX_AGE_S:
            return self._indexes
        now = datetime.fromtimestamp(self.clock(), tz=UTC)
        state = self.storage.state()
        highest = state.setdefault("registries", {})
        result: dict[str, VerifiedIndex] = {}
        self.problems = {}
        for source in self.sources():
            try:
                index = load_index(source, highest.get(source.name, {}).get("highest_version"), now)
            except MarketplaceError as exc:
                self.problems[source.name] = str(exc)
                continue
            result[source.name] = index
            seen = highest.setdefault(source.name, {})
            if index.version > int(seen.get("highest_version", -1)):
                seen["highest_version"] = index.version
        if self.storage.root.exists() or result:
            self.storage.save_state(state)
        self._indexes = result
        self._indexes_at = self.clock()
        return result

    def index_for(self, registry: str) -> VerifiedIndex:
        """One registry's verified index, or its refusal as an error."""
        indexes = self.indexes()
        if registry in indexes:
            return indexes[registry]
        self.source(registry)
        raise MarketplaceError(self.problems.get(registry, f"registry {registry}: unavailable"))

    def candidates(self, name: str, registry: str | None = None) -> list[Candidate]:
        """Every version of `name` across the registries (or one), newest first, the earlier registry first."""
        indexes = {registry: self.index_for(registry)} if registry else self.indexes()
        found: list[Candidate] = []
        for index in indexes.values():
            for text, entry in index.packages.get(name, {}).items():
                try:
                    version = Version(text)
                except InvalidVersion:
                    continue
                found.append(Candidate(name, version, index.registry, entry, index.signer))
        order = {source: position for position, source in enumerate(indexes)}
        found.sort(key=lambda c: order[c.registry])
        return sorted(found, key=lambda c: c.version, reverse=True)  # stable: the earlier registry wins a tie

    # -- fetching and verifying --------------------------------------------------------------

    def fetch(self, candidate: Candidate) -> tuple[bytes, dict[str, bytes], PackageManifest]:
        """Download one version and verify it: index sha256, safe archive, manifest identity, file hashes."""
        key = (candidate.registry, candidate.name, str(candidate.version))
        if key in self._downloads:
            return self._downloads[key]
        where = f"{candidate.name} {candidate.version} ({candidate.registry})"
        source = self.source(candidate.registry)
        archive = source.read(candidate.entry["file"], self.settings.max_package_bytes)
        assert archive is not None
        digest = hashlib.sha256(archive).hexdigest()
        if digest != candidate.entry["sha256"]:
            raise MarketplaceError(f"{where}: tarball sha256 {digest[:12]}… does not match the index "
                                   f"({candidate.entry['sha256'][:12]}…): tampered or re-tagged package; refused")
        self._check_not_retagged(candidate, digest, where)
        files = read_package(archive, where, self.limits)
        manifest = parse_manifest(files[MANIFEST_NAME].decode("utf-8", "replace"), where)
        if manifest.name != candidate.name or manifest.version != candidate.version:
            raise MarketplaceError(f"{where}: the manifest says {manifest.name} {manifest.version}, not "
                                   f"{candidate.name} {candidate.version}; refused")
        check_file_hashes(files, manifest.files, where)
        if not manifest.requires_hololoom.contains(hololoom_version(), prereleases=True):
            raise MarketplaceError(f"{where}: needs HoloLoom {manifest.requires_hololoom} (this is "
                                   f"{hololoom_version()})")
        self._downloads[key] = (archive, files, manifest)
        return archive, files, manifest

    def _check_not_retagged(self, candidate: Candidate, digest: str, where: str) -> None:
        """Refuse a version whose bytes differ from what this installation saw or installed under that version."""
        locked = self.storage.lock().get(candidate.name, {})
        for entry in [locked, *locked.get("history", [])]:
            if entry.get("version") == str(candidate.version) and entry.get("sha256") not in (None, digest):
                raise MarketplaceError(f"{where}: version {candidate.version} was installed with sha256 "
                                       f"{str(entry['sha256'])[:12]}… and the registry now serves other bytes under "
                                       "the same version (re-tagged); refused")
        seen = self.storage.state().get("artifacts", {}).get(f"{candidate.registry}/{candidate.name}/"
                                                              f"{candidate.version}")
        if seen and seen != digest:
            raise MarketplaceError(f"{where}: the registry served sha256 {seen[:12]}… for this version before and "
                                   f"now {digest[:12]}… (re-tagged version); refused")

    def _remember_artifact(self, package: PreparedPackage) -> None:
        state = self.storage.state()
        candidate = package.candidate
        state.setdefault("artifacts", {})[f"{candidate.registry}/{candidate.name}/{candidate.version}"] = \
            package.sha256
        self.storage.save_state(state)

    # -- resolving ---------------------------------------------------------------------------

    def _allows(self, spec: SpecifierSet, version: Version) -> bool:
        prereleases = self.settings.allow_prereleases or bool(spec.prereleases)
        return spec.contains(version, prereleases=prereleases)

    def resolve(self, requests: dict[str, SpecifierSet], registry: str | None = None, *,
                upgrade: set[str] | None = None) -> list[tuple[Candidate, bool]]:
        """Versions for the requests and their dependencies (dependencies first), by backtracking.

        Installed versions that satisfy a range are kept unless the package is in `upgrade`. Returns
        `(candidate, already_installed)` pairs. A cycle or an unsatisfiable range is one clear error.
        """
        lock = self.storage.lock()
        upgrade = upgrade or set()
        failures: list[str] = []

        def options(name: str, spec: SpecifierSet, chain: tuple[str, ...]) -> list[tuple[Candidate, bool]]:
            offered = self.candidates(name, registry if not chain[:-1] else None)
            installed = lock.get(name)
            result: list[tuple[Candidate, bool]] = []
            if installed and name not in upgrade and self._allows(spec, Version(installed["version"])):
                result.append((Candidate(name, Version(installed["version"]), installed["registry"], {},
                                         installed.get("signer")), True))
            result += [(c, False) for c in offered if self._allows(spec, c.version)]
            if not result:
                listed = ", ".join(str(c.version) for c in offered[:8])
                refused = "; ".join(self.problems.values())
                failures.append(f"no version of {name} satisfies '{spec or 'any'}'" + (
                    f" (available: {listed})" if listed else " (no registry offers it)") +
                    (f", needed by {' → '.join(chain[:-1])}" if len(chain) > 1 else "") +
                    (f"; refused registries: {refused}" if refused else ""))
            return result

        def depends_of(candidate: Candidate, installed: bool) -> dict[str, SpecifierSet]:
            if installed:
                folder = self.storage.active_dir(candidate.name)
                if folder is None or not (folder / MANIFEST_NAME).is_file():
                    return {}
                return parse_manifest((folder / MANIFEST_NAME).read_text(encoding="utf-8"), str(folder)).depends
            return self.fetch(candidate)[2].depends

        def solve(queue: list[tuple[str, SpecifierSet, tuple[str, ...]]],
                  chosen: dict[str, tuple[Candidate, bool]]) -> dict[str, tuple[Candidate, bool]] | None:
            if not queue:
                return chosen
            (name, spec, chain), rest = queue[0], queue[1:]
            if name in chain[:-1]:
                raise MarketplaceError(f"dependency cycle {' → '.join(chain)}; refused")
            if name in chosen:
                return solve(rest, chosen) if self._allows(spec, chosen[name][0].version) else None
            for candidate, installed in options(name, spec, chain):
                needs = depends_of(candidate, installed)
                for dependency in needs:
                    if dependency in chain or dependency == name:
                        raise MarketplaceError(f"dependency cycle {' → '.join((*chain, dependency))}; refused")
                following = rest + [(dep, dep_spec, (*chain, dep)) for dep, dep_spec in needs.items()]
                result = solve(following, {**chosen, name: (candidate, installed)})
                if result is not None:
                    return result
            return None

        solution = solve([(name, spec, (name,)) for name, spec in requests.items()], {})
        if solution is None:
            raise MarketplaceError(failures[-1] if failures else "the version ranges cannot all be satisfied")
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            candidate, installed = solution[name]
            for dependency in depends_of(candidate, installed):
                if dependency in solution:
                    visit(dependency)
            order.append(name)

        for name in solution:
            visit(name)
        return [solution[name] for name in order]

    # -- installing --------------------------------------------------------------------------

    def plan_install(self, request: str, *, registry: str | None = None, auto_update: bool = False,
                     progress: Progress | None = None) -> InstallPlan:
        """Resolve, download, verify, unpack and validate into staging: everything but moving into place."""
        say = progress or (lambda _text: None)
        name, spec = parse_request(request)
        say(f"resolving {name} {spec or '(newest)'}")
        self.storage.clear_staging()
        chosen = self.resolve({name: spec}, registry, upgrade={name})
        lock = self.storage.lock()
        plan = InstallPlan(request, [], auto_update=auto_update, spec=str(spec))
        try:
            for candidate, installed in chosen:
                if installed or (candidate.name in lock and lock[candidate.name]["version"] == str(candidate.version)
                                 and lock[candidate.name]["registry"] == candidate.registry):
                    entry = lock[candidate.name]
                    plan.packages.append(PreparedPackage(candidate, PackageManifest(candidate.name, candidate.version,
                                                                                    "", ""),
                                                         entry.get("sha256", ""), None, PackagePermissions(), [],
                                                         already_installed=True))
                    continue
                say(f"verifying {candidate.name} {candidate.version} from {candidate.registry}")
                plan.packages.append(self._stage(candidate))
                if candidate.name in lock:
                    plan.replaces[candidate.name] = lock[candidate.name]["version"]
            say("dry run: loading the workflow library with the new packages")
            self.dry_run(plan)
        except BaseException:
            self.discard(plan)
            raise
        return plan

    def _stage(self, candidate: Candidate) -> PreparedPackage:
        archive, files, manifest = self.fetch(candidate)
        where = f"{candidate.name} {candidate.version} ({candidate.registry})"
        staging = self.storage.new_staging(f"{candidate.name}-{candidate.version}")
        try:
            write_files(files, staging)
            permissions = check_package_files(staging, [path for path in files if path != MANIFEST_NAME],
                                              self.config, where)
        except BaseException:
            remove_tree(staging)
            raise
        changelog = files.get("CHANGELOG.md", b"").decode("utf-8", "replace")
        return PreparedPackage(candidate, manifest, hashlib.sha256(archive).hexdigest(), staging, permissions,
                               sorted(files), changelog)

    def dry_run(self, plan: InstallPlan) -> WorkflowLibrary:
        """Load the whole workflow library with the planned versions in place; any problem they cause refuses it."""
        staged = {package.candidate.name: package.staging for package in plan.changes if package.staging}
        folders = [(name, folder) for name, folder in package_directories(self.config) if name not in staged]
        folders += [(name, folder / "workflows") for name, folder in staged.items()]
        library = WorkflowLibrary.load([user_directory(self.config)], shipped=self.config.workflows.load_shipped,
                                       packages=sorted(folders))
        for problem in library.problems:
            for name, folder in staged.items():
                if str(problem.source).startswith(str(folder)) or f"package {name}:" in problem.problem:
                    relative = str(problem.source).replace(str(folder), name)
                    reason = problem.problem.removesuffix("; this file is ignored")
                    raise MarketplaceError(f"dry run: {relative}:{problem.line or 1}: {reason}; refused")
        return library

    def discard(self, plan: InstallPlan) -> None:
        """Throw away a plan's staging folders (a refused or cancelled install)."""
        for package in plan.packages:
            if package.staging is not None and package.staging.exists():
                remove_tree(package.staging)

    def commit(self, plan: InstallPlan, *, user: str = "") -> list[str]:
        """Move a plan's packages into place (one rename each) and record them in the lockfile."""
        done: list[str] = []
        with self.storage.exclusive():
            lock = self.storage.lock()
            for package in plan.changes:
                candidate = package.candidate
                assert package.staging is not None
                if not package.staging.exists():
                    raise MarketplaceError(f"{candidate.name}: the staged files are gone; run the install again")
                target = self.storage.place(package.staging, candidate.name, str(candidate.version), package.sha256)
                previous = lock.get(candidate.name)
                self.storage.activate(candidate.name, target)
                history = list(previous.get("history", [])) if previous else []
                if previous:
                    history.append({key: previous[key] for key in ("version", "sha256", "registry", "signer")
                                    if key in previous})
                is_request = candidate.name == parse_request(plan.request)[0]
                lock[candidate.name] = {
                    "version": str(candidate.version), "sha256": package.sha256, "registry": candidate.registry,
                    "signer": candidate.signer, "installed_ts": self.clock(), "installed_by": user,
                    "spec": plan.spec if is_request else (previous or {}).get("spec", ""),
                    "auto_update": plan.auto_update if is_request else bool((previous or {}).get("auto_update")),
                    "history": history[-5:],
                }
                self.storage.save_lock(lock)
                self._remember_artifact(package)
                keep = {target}
                if history:
                    last = history[-1]
                    keep.add(self.storage.version_dir(candidate.name, last["version"], last["sha256"]))
                self.storage.prune(candidate.name, keep)
                self.source(candidate.registry).append_line("installs", candidate.name, {
                    "team": self.storage.team_id(), "version": str(candidate.version), "ts": round(self.clock())})
                done.append(f"{candidate.name} {candidate.version}")
        return done

    def install(self, request: str, **options: Any) -> list[str]:
        """Plan and commit in one go (the CLI's `--yes`)."""
        plan = self.plan_install(request, **options)
        return self.commit(plan)

    def rollback(self, name: str) -> str:
        """Switch back to the previously installed version (kept on disk); the current one becomes 'previous'."""
        with self.storage.exclusive():
            lock = self.storage.lock()
            entry = lock.get(name)
            if entry is None:
                raise MarketplaceError(f"{name} is not installed (see `hololoom market list`)")
            history = list(entry.get("history", []))
            if not history:
                raise MarketplaceError(f"{name} {entry['version']} has no previous version to roll back to")
            previous = history.pop()
            target = self.storage.version_dir(name, previous["version"], previous["sha256"])
            if not (target / MANIFEST_NAME).is_file():
                raise MarketplaceError(f"{name} {previous['version']} is no longer on disk ({target}); install it "
                                       f"with `hololoom market install {name}@{previous['version']}`")
            self.storage.activate(name, target)
            history.append({key: entry[key] for key in ("version", "sha256", "registry", "signer") if key in entry})
            lock[name] = {**entry, **previous, "history": history, "installed_ts": self.clock()}
            self.storage.save_lock(lock)
        return f"{name} rolled back from {entry['version']} to {previous['version']}"

    def remove(self, name: str) -> str:
        """Uninstall a package (refused while another installed package depends on it)."""
        with self.storage.exclusive():
            lock = self.storage.lock()
            if name not in lock:
                raise MarketplaceError(f"{name} is not installed (see `hololoom market list`)")
            for other in lock:
                folder = self.storage.active_dir(other)
                if other == name or folder is None or not (folder / MANIFEST_NAME).is_file():
                    continue
                manifest = parse_manifest((folder / MANIFEST_NAME).read_text(encoding="utf-8"), str(folder))
                if name in manifest.depends:
                    raise MarketplaceError(f"{name} is needed by {other}; remove {other} first")
            self.storage.deactivate(name)
            entry = lock.pop(name)
            self.storage.save_lock(lock)
            self.storage.prune(name, set())
        return f"{name} {entry['version']} removed"

    def installed(self) -> dict[str, dict[str, Any]]:
        """The lockfile's packages."""
        return self.storage.lock()

    def set_auto_update(self, name: str, enabled: bool) -> None:
        """Switch auto-update for an installed package."""
        with self.storage.exclusive():
            lock = self.storage.lock()
            if name not in lock:
                raise MarketplaceError(f"{name} is not installed")
            lock[name]["auto_update"] = enabled
            self.storage.save_lock(lock)

    # -- updates -----------------------------------------------------------------------------

    def newest_allowed(self, name: str) -> Candidate | None:
        """The newest offered version newer than the installed one and inside its pinned range."""
        entry = self.storage.lock().get(name)
        if entry is None:
            return None
        spec = SpecifierSet(entry.get("spec", ""))
        current = Version(entry["version"])
        for candidate in self.candidates(name):
            if candidate.version > current and self._allows(spec, candidate.version):
                return candidate
        return None

    def plan_update(self, name: str, *, progress: Progress | None = None) -> InstallPlan | None:
        """A plan to move `name` to the newest version inside its pinned range, or None when it is current."""
        entry = self.storage.lock().get(name)
        if entry is None:
            raise MarketplaceError(f"{name} is not installed (see `hololoom market list`)")
        newest = self.newest_allowed(name)
        if newest is None:
            return None
        request = f"{name}@=={newest.version}"
        plan = self.plan_install(request, registry=newest.registry, auto_update=bool(entry.get("auto_update")),
                                 progress=progress)
        plan.spec = entry.get("spec", "")
        return plan

    # -- discovery ---------------------------------------------------------------------------

    def ratings(self, name: str) -> RatingSummary:
        """Ratings of a package from every registry offering it, plus local ones not shared to a registry."""
        records: list[dict[str, Any]] = []
        for source in self.sources():
            if source.name in self.indexes() and name in self.indexes()[source.name].packages:
                records += source.read_lines("ratings", name)
        records += [record for record in self._local_ratings() if record.get("package") == name
                    and not record.get("shared_to")]
        return summarise(records)

    def teams(self, name: str) -> int:
        """How many distinct installations recorded an install of `name` in the registries' install logs."""
        teams: set[str] = set()
        for source in self.sources():
            if source.name in self.indexes() and name in self.indexes()[source.name].packages:
                teams |= {str(record.get("team")) for record in source.read_lines("installs", name)
                          if record.get("team")}
        return len(teams)

    def _local_ratings(self) -> list[dict[str, Any]]:
        try:
            lines = self.storage.ratings_path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        records = []
        for line in lines:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def rate(self, name: str, stars: int, comment: str = "", *, user: str = "") -> str:
        """Rate a package 1-5 with a comment: kept locally and appended to its registry when writable."""
        if not 1 <= stars <= 5:
            raise MarketplaceError(f"stars must be 1 to 5 (got {stars})")
        entry = self.storage.lock().get(name)
        offered = self.candidates(name)
        if entry is None and not offered:
            raise MarketplaceError(f"no package named '{name}' (search with `hololoom market search`)")
        registry = entry["registry"] if entry else offered[0].registry
        record = {"package": name, "stars": stars, "comment": comment.strip()[:500], "user": user,
                  "team": self.storage.team_id(), "version": entry["version"] if entry else str(offered[0].version),
                  "ts": round(self.clock(), 3)}
        shared = self.source(registry).append_line("ratings", name, record)
        self.storage.ensure()
        with self.storage.ratings_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({**record, "shared_to": registry if shared else None}, sort_keys=True) + "\n")
        where = f"shared with registry {registry}" if shared else f"kept locally (registry {registry} is read-only)"
        return f"Rated {name} {stars}★, {where}."

    def search(self, query: str = "", *, category: str | None = None, min_rating: float | None = None) -> list[
            SearchHit]:
        """Packages matching every word of `query` (name, summary, tags, category), best Wilson bound first."""
        words = [word for word in query.lower().split() if word]
        lock = self.storage.lock()
        hits: dict[str, SearchHit] = {}
        for index in self.indexes().values():
            for name, versions in index.packages.items():
                if name in hits:
                    continue
                parsed = sorted(((Version(v), e) for v, e in versions.items() if _is_version(v)), key=lambda x: x[0])
                finals = [item for item in parsed if not item[0].is_prerelease or self.settings.allow_prereleases]
                if not finals:
                    continue
                latest, entry = finals[-1]
                text = " ".join([name, entry.get("summary", ""), entry.get("category", ""),
                                 *entry.get("tags", [])]).lower()
                if any(word not in text for word in words):
                    continue
                if category and entry.get("category", "") != category:
                    continue
                rating = self.ratings(name)
                if min_rating is not None and (rating.mean or 0) < min_rating:
                    continue
                installed = lock.get(name, {}).get("version")
                hits[name] = SearchHit(name, str(latest), entry.get("summary", ""), entry.get("category", ""),
                                       list(entry.get("tags", [])), index.registry, index.verified, rating,
                                       self.teams(name), installed,
                                       bool(installed and Version(installed) < latest))
        return sorted(hits.values(), key=lambda hit: (-hit.rating.wilson, -hit.teams, hit.name))

    def details(self, name: str) -> dict[str, Any]:
        """Everything about a package: versions per registry, the newest manifest, changelog, powers, files."""
        offered = self.candidates(name)
        entry = self.storage.lock().get(name)
        if not offered and entry is None:
            raise MarketplaceError(f"no package named '{name}' (search with `hololoom market search`)")
        info: dict[str, Any] = {"name": name, "installed": entry, "versions": [
            {"version": str(c.version), "registry": c.registry, "sha256": c.entry["sha256"],
             "verified": c.signer is not None, "summary": c.entry.get("summary", "")} for c in offered]}
        rating = self.ratings(name)
        info["rating"] = {"mean": rating.mean, "count": rating.count, "wilson": rating.wilson,
                          "comments": rating.comments[:10]}
        info["teams"] = self.teams(name)
        newest = next((c for c in offered if not c.version.is_prerelease or self.settings.allow_prereleases), None)
        if newest is not None:
            try:
                package = self._stage(newest)
            except MarketplaceError as exc:
                info["problem"] = str(exc)
            else:
                info.update(summary=package.manifest.summary, description=package.manifest.description,
                            category=package.manifest.category, author=package.manifest.author,
                            license=package.manifest.license, depends={k: str(v) for k, v in
                                                                       package.manifest.depends.items()},
                            files=package.files, changelog=package.changelog,
                            permissions=package.permissions.as_dict())
                if package.staging is not None:
                    remove_tree(package.staging)
        return info


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True
