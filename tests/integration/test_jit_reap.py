"""``harbourmaster jit reap --env ENV``: the environment's API server (from its governance entry, the
token opened from the vault) is asked for expired just-in-time pull Secrets, which are deleted and
audited.  The API server is the local HTTP stand-in of ``tests/kube_standin.py``, over HTTPS with a
test CA, demanding the environment's bearer token."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.deploy.kubernetes._jit_objects import LABEL_EXPIRES
from harbourmaster.services.core import Harbourmaster
from tests.integration.registry_fixtures import CertificateAuthority
from tests.kube_standin import KubeStandIn

pytestmark = pytest.mark.integration

TOKEN = "hm-jit-reap-token-canary-41c7"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[KubeStandIn, CertificateAuthority]]:
    ca = CertificateAuthority.create()
    cert, key = ca.issue("kube-apiserver", server=True)
    (tmp_path / "server.pem").write_text(cert)
    (tmp_path / "server.key").write_text(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = KubeStandIn(namespaces=("shop", "other"), token=TOKEN)
    server.start(tls=context)
    try:
        yield server, ca
    finally:
        server.stop()


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def secret(server: KubeStandIn, namespace: str, name: str, expires: int) -> None:
    body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": name, "labels": {LABEL_EXPIRES: str(expires)}},
            "data": {".dockerconfigjson": "e30="}}  # fmt: skip
    status, _ = server.handle("POST", f"/api/v1/namespaces/{namespace}/secrets", "application/json",
                              json.dumps(body).encode())  # fmt: skip
    assert status == 201


@pytest.fixture
def site(
    standin: tuple[KubeStandIn, CertificateAuthority], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> KubeStandIn:
    server, ca = standin
    monkeypatch.setenv("HM_TEST_KUBE_TOKEN", TOKEN)
    assert run("init").exit_code == 0
    document = {
        "apiVersion": "harbourmaster.io/v1",
        "kind": "Governance",
        "environments": [
            {"name": "prod-k8s", "kind": "kubernetes", "tier": "production", "namespaces": ["shop"],
             "api_server": server.url, "token": "env:HM_TEST_KUBE_TOKEN", "tls": {"ca_bundle": ca.pem}},
            {"name": "lab-k8s", "kind": "kubernetes", "tier": "development", "namespaces": ["shop"]},
            {"name": "dev-docker", "kind": "docker-standalone", "tier": "development"},
        ],
    }  # fmt: skip
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(document))
    applied = run("apply", "-f", str(path))
    assert applied.exit_code == 0, applied.output
    return server


def test_expired_jit_secrets_are_deleted_with_the_environments_token_and_audited(site: KubeStandIn) -> None:
    now = int(time.time())
    secret(site, "other", "hm-jit-crashed", now - 10)
    secret(site, "shop", "hm-jit-running", now + 600)
    secret(site, "shop", "team-mirror", 0)  # not harbourmaster's, whatever its label says
    set_up = len(site.requests)
    result = run("jit", "reap", "--env", "prod-k8s", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["environment"] == "prod-k8s" and answer["api_server"] == site.url
    assert [(d["namespace"], d["name"], d["expired_at"]) for d in answer["deleted"]] == [
        ("other", "hm-jit-crashed", now - 10)
    ]
    names = sorted(s["metadata"]["name"] for s in site.objects("secrets"))
    assert names == ["hm-jit-running", "team-mirror"]
    # Every request carried the token; it is in no output and no audit record.
    made = site.requests[set_up:]
    assert [r.method for r in made] == ["GET", "DELETE"]
    assert TOKEN not in result.output
    hm = Harbourmaster.from_environ()
    with hm.store.read() as tx:
        entries = [e for e in tx.audit.entries() if e.action == "jit.reap"]
        everything = "".join(json.dumps(e.details) for e in tx.audit.entries())
    (entry,) = entries
    assert entry.details["deleted"] == ["other/hm-jit-crashed"] and entry.actor
    assert TOKEN not in everything
    again = run("jit", "reap", "--env", "prod-k8s")
    assert again.exit_code == 0 and "0 expired just-in-time Secret(s) deleted on prod-k8s" in again.stdout


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ("dev-docker", "just-in-time pull Secrets are on Kubernetes only"),
        ("lab-k8s", "has no api_server"),
        ("nowhere", "environment nowhere is not defined"),
    ],
)
def test_environments_it_cannot_reap_are_bad_input(site: KubeStandIn, env: str, says: str) -> None:
    result = run("jit", "reap", "--env", env)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not site.requests


def test_an_unreachable_api_server_is_a_clear_error_with_no_token_in_it(site: KubeStandIn) -> None:
    url = site.url
    site.stop()
    result = run("jit", "reap", "--env", "prod-k8s")
    assert result.exit_code not in (0, 2), result.output
    assert url in result.output and "Traceback" not in result.output
    assert TOKEN not in result.output
