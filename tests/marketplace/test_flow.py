"""Publish → search → install@range → update → rollback → rate between two registries (a folder and HTTP)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from hololoom_core.cli.main import main as cli_main
from hololoom_core.marketplace.errors import MarketplaceError
from hololoom_core.marketplace.publish import publish
from hololoom_core.marketplace.service import Marketplace
from hololoom_core.ops.workflows.commands import load_library
from tests.marketplace.support import make_config, make_key, package_folder, trusted


def test_two_registries_two_teams(tmp_path: Path, http_registry: tuple[Path, str]) -> None:
    http_folder, http_url = http_registry
    team_key, vendor_key = make_key(tmp_path / "keys", "team-a"), make_key(tmp_path / "keys", "vendor")
    shared = tmp_path / "shared-registry"
    publish(package_folder(tmp_path / "src", "war-room-kit", "1.0.0"), shared, team_key)
    publish(package_folder(tmp_path / "src", "digest-kit", "2.0.0", category="reporting"), http_folder, vendor_key)
    registries = [{"name": "team", "url": str(shared)}, {"name": "vendor", "url": http_url}]
    keys = trusted(team_key, vendor_key)
    alice = Marketplace(make_config(tmp_path / "alice", registries, keys))
    bob = Marketplace(make_config(tmp_path / "bob", registries, keys))

    hits = alice.search("")
    assert {(hit.name, hit.registry, hit.verified) for hit in hits} == {
        ("war-room-kit", "team", True), ("digest-kit", "vendor", True)}
    assert [hit.name for hit in alice.search("kit", category="reporting")] == ["digest-kit"]

    plan = alice.plan_install("war-room-kit@>=1.0,<2")
    assert "install war-room-kit 1.0.0** from team (signed by team-a)" in plan.describe()
    assert alice.commit(plan) == ["war-room-kit 1.0.0"]
    assert alice.commit(alice.plan_install("digest-kit", registry="vendor")) == ["digest-kit 2.0.0"]
    library = load_library(alice.config)
    assert library.packages == {"war-room-kit-flow": "war-room-kit", "digest-kit-flow": "digest-kit"}
    assert library.problems == []

    publish(package_folder(tmp_path / "src", "war-room-kit", "1.1.0"), shared, team_key)
    publish(package_folder(tmp_path / "src", "war-room-kit", "2.0.0"), shared, team_key)
    alice.indexes(refresh=True)
    update = alice.plan_update("war-room-kit")
    assert update is not None and [p.candidate.version.public for p in update.changes] == ["1.1.0"]  # 2.0 is outside
    alice.commit(update)
    assert "war-room-kit-flow 1.1.0 says hello" in load_library(alice.config).definitions["war-room-kit-flow"].program[0].value

    started = time.perf_counter()
    assert alice.rollback("war-room-kit") == "war-room-kit rolled back from 1.1.0 to 1.0.0"
    assert time.perf_counter() - started < 1.0
    assert "1.0.0 says hello" in load_library(alice.config).definitions["war-room-kit-flow"].program[0].value
    entry = alice.installed()["war-room-kit"]
    assert (entry["version"], entry["registry"], entry["signer"]) == ("1.0.0", "team", "team-a")
    assert [item["version"] for item in entry["history"]] == ["1.1.0"]

    assert "shared with registry team" in alice.rate("war-room-kit", 5, "saved our sev1", user="alice")
    assert "kept locally" in alice.rate("digest-kit", 2, "too long", user="alice")  # HTTP: read-only
    bob.commit(bob.plan_install("war-room-kit@~=1.0"))
    bob.rate("war-room-kit", 4, "", user="bob")
    hit = next(hit for hit in bob.search("war-room") if hit.name == "war-room-kit")
    assert hit.teams == 2 and hit.rating.count == 2 and hit.rating.mean == 4.5
    assert 0 < hit.rating.wilson < 1
    ratings = [json.loads(line) for line in (shared / "ratings" / "war-room-kit.jsonl").read_text().splitlines()]
    assert [(r["stars"], r["user"]) for r in ratings] == [(5, "alice"), (4, "bob")]
    assert not (http_folder / "ratings").exists()

    assert alice.remove("digest-kit") == "digest-kit 2.0.0 removed"
    assert "digest-kit-flow" not in load_library(alice.config).definitions
    with pytest.raises(MarketplaceError, match="no previous version"):
        bob.rollback("war-room-kit")


def test_dependencies_install_first_and_block_removal(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "k")
    reg = tmp_path / "reg"
    publish(package_folder(tmp_path / "src", "base-kit", "1.0.0"), reg, key)
    publish(package_folder(tmp_path / "src", "base-kit", "1.2.0"), reg, key)
    publish(package_folder(tmp_path / "src", "top-kit", "1.0.0", depends={"base-kit": ">=1,<1.2"}), reg, key)
    market = Marketplace(make_config(tmp_path / "data", [{"name": "r", "url": str(reg)}], trusted(key)))
    assert market.commit(market.plan_install("top-kit")) == ["base-kit 1.0.0", "top-kit 1.0.0"]
    with pytest.raises(MarketplaceError, match="needed by top-kit"):
        market.remove("base-kit")


def test_unsigned_registry_allowed_only_when_marked_and_shown_unverified(tmp_path: Path) -> None:
    key = make_key(tmp_path / "keys", "k")
    reg = tmp_path / "reg"
    publish(package_folder(tmp_path / "src", "loose-kit", "1.0.0"), reg, key)
    (reg / "index.json.sig").unlink()
    market = Marketplace(make_config(tmp_path / "data", [{"name": "r", "url": str(reg), "allow_unsigned": True}],
                                     []))
    [hit] = market.search("")
    assert not hit.verified
    plan = market.plan_install("loose-kit")
    assert "UNVERIFIED" in plan.describe()
    market.commit(plan)
    assert market.installed()["loose-kit"]["signer"] is None


def test_shipped_default_registry_is_signed_and_installs_offline(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data", [], [], default_registry=True)
    market = Marketplace(config)
    hits = market.search("")
    assert len(hits) >= 6 and all(hit.verified for hit in hits)
    assert market.problems == {}
    for hit in hits:
        market.commit(market.plan_install(hit.name))
    library = load_library(config)
    assert library.problems == []
    assert set(library.packages.values()) == {hit.name for hit in hits}
    info = market.details("incident-war-room")
    assert "## 1.1.0" in info["changelog"] and len(info["versions"]) == 2
    assert not (Path(__file__).parents[2] / "hololoom_core/marketplace/default_registry/ratings").exists()


def test_cli_publish_search_install_update_rollback_rate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = tmp_path / "publisher.key"
    assert cli_main(["market", "keygen", str(key_file), "--id", "cli-key"]) == 0
    out = capsys.readouterr().out
    assert key_file.stat().st_mode & 0o777 == 0o600
    public = out.split("public_key: ")[1].split()[0]
    reg = tmp_path / "reg"
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump({"marketplace": {
        "default_registry": False, "registries": [{"name": "team", "url": str(reg)}],
        "trusted_keys": [{"id": "cli-key", "public_key": public}]}}), encoding="utf-8")
    common = ["--config", str(config_file), "--data-dir", str(tmp_path / "data")]
    source = package_folder(tmp_path / "src", "cli-kit", "1.0.0")
    assert cli_main(["market", "publish", str(source), "--registry", str(reg), "--key", str(key_file)]) == 0
    assert "cli-kit 1.0.0 published" in capsys.readouterr().out
    assert cli_main(["market", "search", "cli", "--json", *common]) == 0
    [hit] = json.loads(capsys.readouterr().out)
    assert (hit["name"], hit["latest"], hit["verified"]) == ("cli-kit", "1.0.0", True)
    assert cli_main(["market", "install", "cli-kit@>=1,<2", *common]) == 2  # no tty, no --yes: nothing installed
    assert "confirmation needed" in capsys.readouterr().err
    assert cli_main(["market", "install", "cli-kit@>=1,<2", "--yes", *common]) == 0
    out = capsys.readouterr().out
    assert "chat commands: `!cli-kit-go`" in out and "installed: cli-kit 1.0.0" in out
    publish(package_folder(tmp_path / "src", "cli-kit", "1.1.0"), reg,
            __import__("hololoom_core.marketplace.signing", fromlist=["load_key"]).load_key(key_file))
    assert cli_main(["market", "update", "cli-kit", "--yes", *common]) == 0
    assert "updated: cli-kit 1.1.0" in capsys.readouterr().out
    assert cli_main(["market", "rollback", "cli-kit", *common]) == 0
    assert "rolled back from 1.1.0 to 1.0.0" in capsys.readouterr().out
    assert cli_main(["market", "rate", "cli-kit", "4", "solid", "kit", *common]) == 0
    assert "Rated cli-kit 4★, shared with registry team" in capsys.readouterr().out
    assert cli_main(["market", "list", "--json", *common]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["name"], row["version"], row["registry"], row["signer"], row["previous"]) == (
        "cli-kit", "1.0.0", "team", "cli-key", ["1.1.0"])
    assert cli_main(["workflow", "list", *common]) == 0
    assert "package `cli-kit`" in capsys.readouterr().out
    (reg / "index.json").write_text((reg / "index.json").read_text().replace("cli-kit for tests", "pwned"))
    assert cli_main(["market", "install", "cli-kit@==1.1.0", "--yes", *common]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("hololoom: market: ") and "does not match its signature" in err[-1]
