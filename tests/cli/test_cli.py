"""The CLI end to end on the embedded SQLite store."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
import yaml

from harbourmaster.services.core import Harbourmaster
from harbourmaster.vault.interface import VaultError


def home() -> Path:
    return Path(os.environ["HARBOURMASTER_HOME"])


def test_init_creates_a_private_key_file_and_is_idempotent(cli) -> None:  # type: ignore[no-untyped-def]
    first = cli("init", "--json")
    assert first.exit_code == 0
    report = json.loads(first.stdout)
    assert report["created_key"] is True
    assert report["schema_revision"] == Harbourmaster.from_environ().db.head_revision()
    key = home() / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = json.loads(cli("init", "--json").stdout)
    assert again["created_key"] is False
    assert key.read_bytes() == key.read_bytes()


def test_commands_refuse_an_uninitialised_home(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("registry", "list")
    # The database is not ready: harbourmaster could not do its work (exit 3), and says what to run.
    assert result.exit_code == 3
    assert "harbourmaster init" in result.stderr


def test_check_json_shape_and_exit_codes(cli, applied) -> None:  # type: ignore[no-untyped-def]
    source = ("--env", "prod-eu", "--source-only", "--namespace", "payments")
    ok = cli("check", *source, "harbor.corp/payments/api:1", "--json")
    assert ok.exit_code == 0, ok.output
    (row,) = json.loads(ok.stdout)
    assert set(row) >= {"image", "normalized", "registry", "allowed", "reasons"}
    assert row["allowed"] is True and row["registry"] == "harbor-payments"
    denied = cli(
        "check",
        "--env",
        "prod-eu",
        "--source-only",
        "--namespace",
        "payments",
        "harbor.corp/payments/api:1",
        "harbor.corp/payments-evil/api:1",
        "--json",
    )
    assert denied.exit_code == 1
    assert [r["allowed"] for r in json.loads(denied.stdout)] == [True, False]
    bad = cli("check", *source, "Harbor.corp/UPPER/x", "--json")
    assert bad.exit_code == 2 and "UPPER" in bad.stderr
    neither = cli("check", "--env", "prod-eu", "--source-only", "--json")
    assert neither.exit_code == 2


def test_check_docker_user(cli, applied) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "check", "--env", "dev-docker", "--user", "tools-dev", "ghcr.io/corp-tools/lint:2", "nginx", "--json"
    )
    assert result.exit_code == 0, result.output
    assert [r["registry"] for r in json.loads(result.stdout)] == ["ghcr-tools", "dockerhub-anonymous"]
    result = cli("check", "--env", "dev-docker", "--user", "web-dev", "ghcr.io/corp-tools/lint:2", "--json")
    assert result.exit_code == 1


def test_check_kubernetes_file_every_image_must_pass(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text("""
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: payments}
spec:
  template:
    spec:
      initContainers: [{name: migrate, image: "harbor.corp/payments/migrate:3"}]
      containers: [{name: api, image: "harbor.corp/payments/api:1"}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: payments}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: r, image: "busybox:1.36"}]
""")
    result = cli("check", "--env", "prod-eu", "--source-only", "-f", str(manifest), "--json")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [(r["image"], r["allowed"]) for r in rows] == [
        ("harbor.corp/payments/migrate:3", True),
        ("harbor.corp/payments/api:1", True),
        ("busybox:1.36", False),
    ]
    assert "CronJob/report" in rows[2]["source"]
    # A workload in another namespace than the target is refused.
    result = cli(
        "check", "--env", "prod-eu", "--source-only", "--namespace", "web", "-f", str(manifest), "--json"
    )
    assert result.exit_code == 1
    assert "namespace payments" in json.loads(result.stdout)[0]["reasons"][0]


def test_check_compose_reports_build_only_services(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web: {image: 'ghcr.io/corp-tools/web:1'}\n  local: {build: .}\n")
    result = cli("check", "--env", "dev-docker", "--user", "payments-dev", "-f", str(compose))
    assert result.exit_code == 0, result.output
    assert "service local is built locally" in result.stdout


def test_apply_cli_reports_paths_and_exits_2(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(applied.read_text())
    doc["registries"][0]["url"] = "harbor.corp"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    result = cli("apply", "-f", str(bad))
    assert result.exit_code == 2
    assert "registries[0].url" in result.stderr
    again = cli("apply", "-f", str(applied))
    assert again.exit_code == 0 and "no changes" in again.stdout
    missing = cli("apply", "-f", str(tmp_path / "absent.yaml"))
    assert missing.exit_code == 2 and "absent.yaml" in missing.stderr


def test_export_to_file_round_trips(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "exported.yaml"
    assert cli("export", "-o", str(out)).exit_code == 0
    assert yaml.safe_load(out.read_text())["kind"] == "Governance"
    assert "no changes" in cli("apply", "-f", str(out), "--prune").stdout
    assert not list(tmp_path.glob(".exported.yaml.*")), "no temporary file is left behind"


def test_registry_hide_anonymous_globally_and_per_environment(cli, applied) -> None:  # type: ignore[no-untyped-def]
    args = ("check", "--env", "dev-docker", "--user", "tools-dev", "nginx", "--json")
    assert cli(*args).exit_code == 0
    assert cli("registry", "hide-anonymous", "--env", "dev-docker").exit_code == 0
    assert cli(*args).exit_code == 1
    assert cli("registry", "hide-anonymous", "--env", "dev-docker", "--show").exit_code == 0
    assert cli(*args).exit_code == 0
    assert cli("registry", "hide-anonymous").exit_code == 0
    assert cli(*args).exit_code == 1
    shown = json.loads(cli("registry", "show", "dockerhub-anonymous", "--json").stdout)
    assert shown["hidden"] is True


def test_registry_show_unknown_is_clear(cli, applied) -> None:  # type: ignore[no-untyped-def]
    result = cli("registry", "show", "nope")
    assert result.exit_code == 2 and "registry nope is not defined" in result.stderr
    typo = cli("registry", "show", "harbor-paymnts")
    assert typo.exit_code == 2 and "(did you mean harbor-payments?)" in typo.stderr


def test_audit_records_decisions_and_detects_tampering(cli, applied) -> None:  # type: ignore[no-untyped-def]
    cli("check", "--env", "prod-eu", "--source-only", "--namespace", "payments", "harbor.corp/payments/api:1")
    verify = cli("audit", "verify", "--json")
    assert verify.exit_code == 0 and json.loads(verify.stdout)["ok"] is True
    *lines, checkpoint = [json.loads(line) for line in cli("audit", "export").stdout.splitlines()]
    assert checkpoint["type"] == "audit.checkpoint" and checkpoint["seq"] == lines[-1]["seq"]
    assert [e["action"] for e in lines][:2] == ["system.init", "governance.apply"]
    decision = next(e for e in lines if e["action"] == "decision")
    assert decision["details"]["images"][0]["registry"] == "harbor-payments"
    assert decision["result"] == "allowed"
    db = sqlite3.connect(home() / "harbourmaster.db")
    db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    db.commit()
    db.close()
    broken = cli("audit", "verify", "--json")
    assert broken.exit_code == 1
    assert json.loads(broken.stdout)["first_bad_seq"] == 2


def test_keys_rotate_keeps_secrets_usable(cli, applied) -> None:  # type: ignore[no-untyped-def]
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.credentials import use_credential

    old_key = (home() / "master.key").read_bytes()
    result = cli("keys", "rotate", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rewrapped"] == 4 and report["old_key_id"] != report["new_key_id"]
    assert (home() / "master.key").read_bytes() != old_key
    assert stat.S_IMODE((home() / "master.key").stat().st_mode) == 0o600
    hm = Harbourmaster.from_environ()
    use = use_credential(hm, registry="harbor-web", actor="t", purpose="test")
    assert use is not None and use.secret.reveal() == os.environ["HM_EXAMPLE_HARBOR_WEB_SECRET"]
    # The old key file alone can no longer open anything: data keys were re-wrapped.
    (home() / "master.key").write_bytes(old_key)
    with pytest.raises(VaultError, match="not in the keyring"):
        use_credential(Harbourmaster.from_environ(), registry="harbor-web", actor="t", purpose="test")


def test_credentials_expiring(cli, applied) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(cli("credentials", "expiring", "--within", "3000d", "--json").stdout)
    assert [r["registry"] for r in rows] == ["ecr-prod", "harbor-web", "harbor-payments"]
    assert json.loads(cli("credentials", "expiring", "--within", "14d", "--json").stdout) == []
    bad = cli("credentials", "expiring", "--within", "soon")
    assert bad.exit_code == 2 and "--within" in bad.stderr


def test_token_create_writes_a_private_file(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "tok"
    result = cli("token", "create", "--user", "admin", "-o", str(out))
    assert result.exit_code == 0
    assert out.read_text().startswith("hm_") and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().strip() not in result.output
    missing = cli("token", "create", "--user", "ghost")
    assert missing.exit_code == 2 and "ghost" in missing.stderr


def test_apply_cli_refuses_references_into_its_own_data(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A document from a pull request cannot make the operator's apply send the master key away."""
    import os

    import yaml

    home = Path(os.environ["HARBOURMASTER_HOME"])
    link = tmp_path / "looks-harmless"
    link.symlink_to(home / "master.key")
    doc = yaml.safe_load(applied.read_text())
    doc["registries"][0]["credential"]["secret"] = f"file:{link}"
    doc["registries"][1]["credential"]["secret"] = "env:HARBOURMASTER_MASTER_KEY"
    path = tmp_path / "pr.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = cli("apply", "-f", str(path))
    assert result.exit_code == 2, result.output
    assert "registries[0].credential.secret" in result.output and "harbourmaster's own data" in result.output
    assert "registries[1].credential.secret" in result.output and "own settings" in result.output
    assert "Traceback" not in result.output
    assert home.joinpath("master.key").read_text().strip() not in result.output
