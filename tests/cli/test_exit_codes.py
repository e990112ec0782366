"""One exit-code table for every command: 0 done, 1 the policy says no, 2 bad input, 3 could not decide."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from typer.core import TyperGroup
from typer.testing import CliRunner

from harbourmaster.cli._exit import EXIT_CODES, ExitCode, exit_code_for
from harbourmaster.cli.main import COMMANDS, app
from harbourmaster.errors import BadInput, Error, Forbidden, NotFound
from harbourmaster.registry.errors import AuthenticationFailed, NotFoundInRegistry, RegistryUnavailable
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_resolve import ResolveRefused
from harbourmaster.store.interface import AuditLogBroken, StoreError
from harbourmaster.vault.interface import MasterKeyError, UnresolvedSecretError
from harbourmaster.vault.signing import PublicKeyFormatError

#: Arguments that take each command as far as opening the core (where the test breaks it).
ARGS: dict[str, list[str]] = {
    "init": [],
    "serve": [],
    "apply": ["-f", "{example}"],
    "export": [],
    "check": ["--env", "prod-eu", "-n", "payments", "harbor.corp/payments/api:1"],
    "resolve": ["harbor.corp/payments/api:1", "--env", "prod-eu"],
    "scan": ["{example}"],
    "schema": [],
    "policy export": ["--env", "prod-eu", "--format", "gatekeeper"],
    "policy diff": ["--env", "prod-eu", "--kyverno", "{example}"],
    "webhook manifests": ["--env", "prod-eu", "--service", "harbourmaster/harbourmaster-webhook"],
    "install-manifests": [],
    "registry list": [],
    "registry show": ["harbor-web"],
    "gate serve": ["--registry", "no-such-registry", "--env", "dev"],
    "registry notifications": ["harbor-web"],
    "webhook serve": ["--cert", "{example}", "--key", "{example}"],
    "registry hide-anonymous": [],
    "registry test": ["harbor-web"],
    "registry browse": ["harbor-web"],
    "audit verify": [],
    "audit export": [],
    "audit checkpoint": [],
    "audit public-key": [],
    "keys rotate": [],
    "jit reap": ["--env", "prod-eu"],
    "credential-provider config": ["--env", "prod-eu", "--server", "https://hm.example", "--ca-file",
                                   "/etc/hm/ca.pem", "--token-file", "/etc/hm/node.token"],
    "mirror": ["-f", "{example}", "--to", "internal"],
    "airgap export": ["-f", "{example}", "-o", "bundle-out"],
    "airgap import": ["{example}", "--to", "internal", "--key", "{example}"],
    "airgap diff": ["{example}", "{example}"],
    "deploy": ["--env", "prod-eu", "-n", "payments", "-f", "{example}"],
    "deployments list": [],
    "deployments show": ["dep-000000000000"],
    "deployments remove": ["dep-000000000000"],
    "token create": ["--user", "admin"],
    "token list": [],
    "token revoke": ["1"],
    "credentials expiring": [],
    "credentials rotate": ["harbor-payments"],
    "harbor sync": ["--registry", "harbor-payments", "--dry-run"],
    "assess": [],
    "sbom generate": ["harbor.corp/payments/api:1"],
    "sbom attach": ["harbor.corp/payments/api:1"],
    "sbom fetch": ["harbor.corp/payments/api:1"],
    "sbom list": [],
    "vulndb import": ["{example}"],
    "vulndb status": [],
    "vulns affected": [],
    "sign": ["harbor.corp/payments/api:1", "--key", "{example}"],
    "verify": ["harbor.corp/payments/api:1", "--key", "{example}"],
    "sign-blob": ["{example}", "--key", "{example}"],
    "verify-blob": ["{example}", "--signature", "AAAA", "--key", "{example}"],
    "signing-key import": ["k", "--key", "{example}"],
    "signing-key generate": ["k"],
    "signing-key list": [],
    "signing-key public": ["k"],
    "worker": [],
    "job show": ["1"],
    "job list": [],
    "job wait": ["1"],
    "policy show": ["--env", "prod-eu"],
    "tier show": ["production"],
}


def every_command() -> list[str]:
    """Every command of the CLI, by walking the app (a group's commands, recursively)."""
    root = typer.main.get_command(app)
    assert isinstance(root, TyperGroup)
    found: list[str] = []

    def walk(prefix: str, group: Any) -> None:
        for name in group.list_commands(None):
            command = group.get_command(None, name)
            path = f"{prefix} {name}".strip()
            if isinstance(command, TyperGroup):
                walk(path, command)
            else:
                found.append(path)

    walk("", root)
    return found


def test_the_table_covers_every_command() -> None:
    assert sorted(every_command()) == sorted(ARGS)


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("HARBOURMASTER_DEBUG", raising=False)
    return CliRunner()


def broken(*_args: object, **_kwargs: object) -> Any:
    raise RuntimeError("internal detail that must not be shown: hunter2")


@pytest.mark.parametrize("command", sorted(ARGS))
def test_an_unexpected_error_is_one_line_and_exit_3(
    command: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Every command but 'schema', 'verify-blob' and 'airgap diff' reaches the core; those reach their service.
    monkeypatch.setattr(Harbourmaster, "from_environ", broken)
    schema_module = importlib.import_module("harbourmaster.services.document_schema")
    monkeypatch.setattr(schema_module, "render_json_schema", broken)
    # 'verify-blob' needs no data directory: it reaches its service directly.
    blobs = importlib.import_module("harbourmaster.services.signing_blobs")
    monkeypatch.setattr(blobs, "verify_blob", broken)
    # 'airgap diff' compares two files: it reaches its service directly.
    monkeypatch.setattr(importlib.import_module("harbourmaster.services.airgap_diff"), "diff_bundles", broken)
    example = Path(__file__).resolve().parents[2] / "examples" / "governance.yaml"
    args = [*command.split(), *(a.format(example=example) for a in ARGS[command])]
    result = runner.invoke(app, args)
    output = result.stdout + result.stderr
    assert result.exit_code == 3, (args, output)
    assert "Traceback" not in output and "hunter2" not in output
    (line,) = result.stderr.strip().splitlines()
    assert "unexpected RuntimeError" in line and "--debug" in line


def test_debug_shows_the_traceback(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Harbourmaster, "from_environ", broken)
    for args, env in ((["--debug", "export"], {}), (["export"], {"HARBOURMASTER_DEBUG": "1"})):
        result = runner.invoke(app, args, env=env)
        assert result.exit_code == 3
        assert "Traceback" in result.stderr and "RuntimeError" in result.stderr


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (BadInput("x"), ExitCode.BAD_INPUT),
        (NotFound("x"), ExitCode.BAD_INPUT),
        (PublicKeyFormatError("x"), ExitCode.BAD_INPUT),  # a vault error that is bad input
        (UnresolvedSecretError("env:X is not set"), ExitCode.BAD_INPUT),
        (NotFoundInRegistry("no such tag", registry="r"), ExitCode.BAD_INPUT),
        (Forbidden("x"), ExitCode.REFUSED),
        (ResolveRefused("x"), ExitCode.REFUSED),
        (AuditLogBroken("x"), ExitCode.REFUSED),
        (RegistryUnavailable("503", registry="r"), ExitCode.UNDECIDED),
        (AuthenticationFailed("wrong password", registry="r"), ExitCode.UNDECIDED),
        (StoreError("database is locked"), ExitCode.UNDECIDED),
        (MasterKeyError("no master key"), ExitCode.UNDECIDED),
        (Error("x"), ExitCode.UNDECIDED),
        (RuntimeError("x"), ExitCode.UNDECIDED),
    ],
)
def test_exit_code_of_each_kind_of_error(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_the_table_names_error_classes_where_they_are_defined() -> None:
    for module_name, class_name, _code in EXIT_CODES:
        cls = getattr(importlib.import_module(module_name), class_name)
        assert issubclass(cls, Error) and cls.__module__ == module_name, (module_name, class_name)


def test_root_help_lists_every_command_with_its_own_summary(runner: CliRunner) -> None:
    for name, entry in COMMANDS.items():
        command = entry.load()
        own = (command.help or "").split("\n\n")[0]
        assert " ".join(own.split()) == entry.summary, name
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert all(name in result.stdout for name in COMMANDS)


def test_usage_errors_exit_2(runner: CliRunner) -> None:
    typo = runner.invoke(app, ["chek", "--env", "prod-eu"])
    assert typo.exit_code == 2 and "Did you mean 'check'?" in typo.stderr
    missing = runner.invoke(app, ["check", "nginx"])
    assert missing.exit_code == 2 and "--env" in missing.stderr


# -- what a newcomer runs into ---------------------------------------------------------------


def test_apply_with_an_impossible_date_names_the_path(cli: Any, applied: Path, tmp_path: Path) -> None:
    text = applied.read_text().replace("expires: 2028-06-30", "expires: 2025-13-01")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = cli("apply", "-f", str(bad))
    assert result.exit_code == 2
    assert "registries[0].credential.expires" in result.stderr and "month" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_apply_reports_schema_value_and_reference_problems_together(
    cli: Any, applied: Path, tmp_path: Path
) -> None:
    doc = yaml.safe_load(applied.read_text())
    doc["registries"][0]["scop"] = "payments"
    doc["registries"][1]["url"] = "ftp://harbor.corp"
    doc["grants"][0]["registry"] = "harbor-paymnts"
    doc["access"][0]["environment"] = "dev-dockr"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("apply", "-f", str(bad))
    assert result.exit_code == 2
    err = result.stderr
    assert "registries[0]: unknown field 'scop' (did you mean 'scope'?)" in err
    assert "registries[1].url" in err
    assert "access[0].environment: environment dev-dockr is not defined (did you mean dev-docker?)" in err
    # harbor-payments has a problem of its own (the unknown field): a grant to it is not reported again,
    # while the misspelt name is, with the closest defined registry.
    misspelt = "registry harbor-paymnts is not defined (did you mean harbor-payments?)"
    assert f"grants[0].namespaces[0].registry: {misspelt}" in err
    assert "harbor-payments is not defined" not in err


def test_check_with_a_misspelt_environment_suggests_the_right_one(cli: Any, applied: Path) -> None:
    result = cli("check", "--env", "prod-us", "--namespace", "payments", "harbor.corp/payments/api:1")
    assert result.exit_code == 2
    assert "environment prod-us is not defined (did you mean prod-eu?)" in result.stderr


def test_check_on_kubernetes_needs_a_namespace(cli: Any, applied: Path) -> None:
    result = cli("check", "--env", "prod-eu", "harbor.corp/payments/api:1")
    assert result.exit_code == 2
    assert "environment prod-eu is Kubernetes" in result.stderr and "payments, web" in result.stderr
    typo = cli("check", "--env", "prod-eu", "-n", "paymnts", "harbor.corp/payments/api:1")
    assert typo.exit_code == 2 and "(did you mean payments?)" in typo.stderr
    docker = cli("check", "--env", "dev-docker", "nginx")
    assert docker.exit_code == 2 and "name the user who deploys" in docker.stderr


def test_a_failing_dependency_is_3_and_a_refusal_is_1(cli: Any) -> None:
    # No 'init': the database is not there to decide with.
    for args in (
        ("scan", "x.json", "--env", "prod-eu"),
        ("audit", "verify"),
        ("check", "--env", "prod-eu", "-n", "payments", "nginx"),
    ):
        result = cli(*args)
        assert result.exit_code == 3, args
        assert "harbourmaster init" in result.stderr


def test_check_says_when_a_digest_could_not_be_pinned(cli: Any, applied: Path) -> None:
    """dev-local (http://127.0.0.1:5000) has nothing listening: the image is allowed, but not pinned."""
    args = ("check", "--env", "dev-docker", "--user", "payments-dev", "127.0.0.1:5000/team/app:1")
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["allowed"] is True and row["digest"] is None
    assert "127.0.0.1:5000" in row["digest_error"]
    assert "warning: 127.0.0.1:5000/team/app:1: not pinned to a digest" in result.stderr
    table = cli(*args)
    assert table.exit_code == 0 and "unknown" in table.stdout and "not pinned" in table.stderr
    required = cli(*args, "--require-digest")
    assert required.exit_code == 3
    assert "--require-digest: 1 allowed image(s) not pinned" in required.stderr
    # A denial is still the answer when an image is refused.
    denied = cli(*args, "ghcr.io/elsewhere/x:1", "--require-digest")
    assert denied.exit_code == 1
    assert cli(*args, "--require-digest", "--no-resolve").exit_code == 2
    # Given by digest, an image is pinned without asking the registry.
    digest = "sha256:" + "a" * 64
    pinned = cli("check", "--env", "dev-docker", "--user", "payments-dev",
                 f"127.0.0.1:5000/team/app@{digest}", "--json", "--require-digest")
    assert pinned.exit_code == 0 and json.loads(pinned.stdout)[0]["digest"] == digest


def test_schema_prints_the_checked_in_files(runner: CliRunner) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0 and result.stdout == (docs / "governance.schema.json").read_text()
    markdown = runner.invoke(app, ["schema", "--markdown"])
    assert markdown.exit_code == 0 and markdown.stdout == (docs / "governance.md").read_text()
