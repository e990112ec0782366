"""``harbourmaster credential-provider``: the kubelet's exec starts without the CLI's libraries, and
``credential-provider config`` prints the kubelet's CredentialProviderConfig."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from harbourmaster.cli._common import local_principal
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from tests._helpers import cli_ok
from tests.deploy._sa_tokens import SigningKey, jwks

ROOT = Path(__file__).resolve().parents[2]
#: Not one of these may be imported while the kubelet waits for a pull's credential.
HEAVY = ("typer", "click", "rich", "pydantic", "httpx", "fastapi", "starlette", "sqlalchemy", "yaml", "jwt")
REQUEST = json.dumps(
    {"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest",
     "image": "registry.example/app:1", "serviceAccountToken": "a.b.c"}
).encode()  # fmt: skip


def _imported(code: str, env: dict[str, str]) -> tuple[int, set[str], str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        input=REQUEST,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    stderr = result.stderr.decode()
    modules = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return result.returncode, modules, stderr


@pytest.mark.parametrize("entry", ["console-script", "python -m"])
def test_the_plugin_imports_no_heavy_library(entry: str, tmp_path: Path) -> None:
    if entry == "console-script":
        # Whatever [project.scripts] names as the harbourmaster command.
        target = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["harbourmaster"]
        module, _, function = target.partition(":")
        code = (
            "import sys; sys.argv = ['harbourmaster', 'credential-provider']\n"
            f"from {module} import {function} as main\nmain()"
        )
    else:
        code = "import runpy, sys; sys.argv = ['harbourmaster', 'credential-provider']\n" \
               "runpy.run_module('harbourmaster', run_name='__main__')"  # fmt: skip
    token = tmp_path / "node.token"
    token.write_text("hm_not-a-real-token\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HM_CREDENTIAL_PROVIDER_SERVER_URL": "https://127.0.0.1:9",  # nothing listens: the POST fails
        "HM_CREDENTIAL_PROVIDER_SERVER_CA_FILE": str(ROOT / "tests" / "cli" / "missing-ca.pem"),
        "HM_CREDENTIAL_PROVIDER_NODE_TOKEN_FILE": str(token),
        "HM_CREDENTIAL_PROVIDER_ENVIRONMENT": "prod",
    }
    code_, modules, stderr = _imported(code, env)
    assert code_ == 1, stderr
    assert "harbourmaster credential-provider:" in stderr
    heavy = sorted(modules & set(HEAVY))
    assert not heavy, (
        f"{entry} imports {heavy} before answering the kubelet; the console script must be "
        f"harbourmaster.__main__:main (it is {target if entry == 'console-script' else 'python -m'})"
    )


def _kubernetes_model(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HM_TEST_LAB_SECRET", "canary-Pw-never-shown")
    document = {
        "apiVersion": "harbourmaster.io/v1",
        "kind": "Governance",
        "registries": [
            {"name": "lab", "provider": "custom", "url": "https://registry.lab.example:5000", "scope": "team",
             "credential": {"kind": "robot", "username": "puller", "secret": "env:HM_TEST_LAB_SECRET",
                            "expires": "2030-01-01"}},
            {"name": "open", "provider": "custom", "url": "https://open.example"},
        ],
        "environments": [
            {"name": "prod", "kind": "kubernetes", "tier": "production", "namespaces": ["web", "api"],
             "service_account_issuer": "https://k8s.example", "jwks": json.dumps(jwks(SigningKey.rsa()))},
        ],
        "grants": [
            {"registry": "lab", "environment": "prod", "namespaces": ["web"]},
            {"registry": "open", "environment": "prod", "namespaces": ["api"]},
        ],
    }  # fmt: skip
    apply_document(hm, local_principal(hm), yaml.safe_dump(document), source="t.yaml", host=hm.host_files())


def test_config_prints_the_kubelet_config_of_the_granted_registries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli_ok("init")
    hm = Harbourmaster.from_environ()
    _kubernetes_model(hm, monkeypatch)
    text = cli_ok(
        "credential-provider", "config", "--env", "prod", "--server", "https://hm.example:8443",
        "--ca-file", "/etc/harbourmaster/ca.pem", "--token-file", "/etc/harbourmaster/node.token",
        "--cache-duration", "10m",
    )  # fmt: skip
    config = yaml.safe_load(text)
    assert (config["apiVersion"], config["kind"]) == ("kubelet.config.k8s.io/v1", "CredentialProviderConfig")
    (provider,) = config["providers"]
    # The anonymous registry needs no plugin; the scoped one matches its path.
    assert provider["matchImages"] == ["registry.lab.example:5000/team"]
    assert provider["defaultCacheDuration"] == "10m0s"
    assert provider["args"] == ["credential-provider"]
    assert provider["tokenAttributes"]["serviceAccountTokenAudience"] == "harbourmaster"
    env = {e["name"]: e["value"] for e in provider["env"]}
    assert env["HM_CREDENTIAL_PROVIDER_ENVIRONMENT"] == "prod"
    assert env["HM_CREDENTIAL_PROVIDER_SERVER_URL"] == "https://hm.example:8443"
