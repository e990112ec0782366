"""``harbourmaster deploy`` to a Kubernetes environment, and ``POST /api/v1/environments/{env}/deployments``:
the environment's API server is the local Kubernetes API *stand-in* of :mod:`tests.kube_standin` over
HTTPS with a test CA, demanding the environment's bearer token (no API server runs here).  Its simulated
kubelet pulls an image of the registry host only with the registry's exact credential from a
dockerconfigjson Secret named in the pod's ``imagePullSecrets``: the deployment-window Secret must exist
for the pull, and be gone after it."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from harbourmaster.api.app import create_app
from harbourmaster.cli.main import app
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.jobs import run_one
from harbourmaster.services.tokens import create_token
from tests.gate._gate import keep_scan
from tests.integration.registry_fixtures import CertificateAuthority
from tests.integration.test_kubernetes_jit import _canary_forms
from tests.kube_standin import KubeStandIn

pytestmark = pytest.mark.integration

HOST = "harbor.corp"
USER = "robot$shop"
CANARY = "CANARY-kube-deploy-5c1d-password"
TOKEN = "hm-kube-deploy-token-canary-93ab"
DIGEST = "sha256:" + "ab" * 32
UNSCANNED = "sha256:" + "cd" * 32


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[KubeStandIn]:
    ca = CertificateAuthority.create()
    cert, key = ca.issue("kube-apiserver", server=True)
    (tmp_path / "server.pem").write_text(cert)
    (tmp_path / "server.key").write_text(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    server = KubeStandIn(canary={HOST: (USER, CANARY)}, namespaces=("shop", "other"), token=TOKEN)
    server.start(tls=context)
    server.ca_pem = ca.pem  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def site(standin: KubeStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> KubeStandIn:
    monkeypatch.setenv("HM_TEST_KUBE_TOKEN", TOKEN)
    monkeypatch.setenv("HM_TEST_HARBOR_SECRET", CANARY)
    monkeypatch.setenv("HARBOURMASTER_DEPLOY_TIMEOUT_SECONDS", "20")
    assert run("init").exit_code == 0
    document = {
        "apiVersion": "harbourmaster.io/v1",
        "kind": "Governance",
        "registries": [
            {"name": "harbor", "provider": "custom", "url": f"https://{HOST}",
             "credential": {"username": USER, "secret": "env:HM_TEST_HARBOR_SECRET"}},
        ],
        "users": [{"name": "ops", "role": "administrator"}],
        "environments": [
            {"name": "k8s", "kind": "kubernetes", "tier": "development", "namespaces": ["shop", "other"],
             "api_server": standin.url, "token": "env:HM_TEST_KUBE_TOKEN",
             "tls": {"ca_bundle": standin.ca_pem}},  # type: ignore[attr-defined]
        ],
        "access": [{"user": "ops", "environment": "k8s"}],
        "grants": [{"registry": "harbor", "environment": "k8s", "namespaces": ["shop"]}],
        "tiers": {"development": {"block_severity": "high", "unscanned": "block"}},
    }  # fmt: skip
    path = tmp_path / "governance.yaml"
    path.write_text(yaml.safe_dump(document))
    applied = run("apply", "-f", str(path))
    assert applied.exit_code == 0, applied.output
    keep_scan(f"{HOST}/shop/web", DIGEST)
    return standin


def manifest(image: str = f"{HOST}/shop/web:1.4@{DIGEST}", replicas: int = 2) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image}]},
                },
            },
        }
    )


def _audit(action: str | None = None) -> list[Any]:
    hm = Harbourmaster.from_environ()
    with hm.store.read() as tx:
        return [e for e in tx.audit.entries() if action in (None, e.action)]


def test_deploy_with_a_deployment_window_secret_that_is_gone_after_the_pull(
    site: KubeStandIn, tmp_path: Path
) -> None:
    file = tmp_path / "web.yaml"
    file.write_text(manifest())
    deployed = run("deploy", "--env", "k8s", "--namespace", "shop", "-f", str(file), "--wait", "--json")
    assert deployed.exit_code == 0, deployed.output
    result = json.loads(deployed.stdout)
    assert result["state"] == "deployed" and result["namespace"] == "shop" and result["name"] == "web"
    assert result["result"]["secret"] == f"hm-jit-{result['id']}"
    assert result["result"]["applied"] == ["Deployment/web"]
    assert len(result["result"]["pulls"]) == 2
    # Applied pinned to the checked digest (the tag dropped), and the window Secret is gone.
    container = site.get("deployments", "shop", "web")["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    assert container["image"] == f"{HOST}/shop/web@{DIGEST}"
    assert site.objects("secrets") == []
    assert "imagePullSecrets" not in site.get("deployments", "shop", "web")["spec"]["template"]["spec"]  # type: ignore[index]
    # The registry credential travelled only in the Secret's creation; the token in no output or audit.
    carrying = [r for r in site.requests if any(f in r.body for f in _canary_forms(CANARY))]
    assert [(r.method, r.path) for r in carrying] == [("POST", "/api/v1/namespaces/shop/secrets")]
    everything = json.dumps([e.details for e in _audit()])
    for secret in (CANARY, TOKEN):
        assert secret not in deployed.output and secret not in everything
    (applied,) = _audit("deploy.apply")
    assert applied.details["images"] == [
        {"workload": "Deployment/web", "image": f"{HOST}/shop/web:1.4@{DIGEST}", "digest": DIGEST,
         "registry": "harbor", "credential": USER}
    ]  # fmt: skip

    removed = run("deployments", "remove", result["id"])
    assert removed.exit_code == 0, removed.output
    assert site.get("deployments", "shop", "web") is None
    assert "Deployment/web" in removed.stdout


def test_refusals_and_faults_leave_no_secret(site: KubeStandIn, tmp_path: Path) -> None:
    file = tmp_path / "web.yaml"
    # A namespace without a grant: denied before anything reaches the cluster.
    file.write_text(manifest())
    before = len(site.requests)
    denied = run("deploy", "--env", "k8s", "--namespace", "other", "-f", str(file), "--wait")
    assert denied.exit_code == 1 and "not granted" in denied.output, denied.output
    assert len(site.requests) == before
    # A compose file is not for a Kubernetes environment; a namespace it does not have is unknown.
    file.write_text(yaml.safe_dump({"services": {"web": {"image": f"{HOST}/shop/web@{DIGEST}"}}}))
    assert run("deploy", "--env", "k8s", "--namespace", "shop", "-f", str(file)).exit_code == 2
    file.write_text(manifest())
    assert run("deploy", "--env", "k8s", "--namespace", "nope", "-f", str(file)).exit_code == 2

    # The namespace is deleted mid-deploy: a clear error, and the Secret does not survive it.
    def delete_namespace(method: str, path: str, query: object) -> None:
        if method == "GET" and path.endswith("/pods") and site.before_request is not None:
            site.before_request = None
            site.delete_namespace("shop")

    site.before_request = delete_namespace
    site.pull_seconds = 5
    gone = run("deploy", "--env", "k8s", "--namespace", "shop", "-f", str(file), "--wait")
    assert gone.exit_code == 3, gone.output
    assert "shop" in gone.output and "Traceback" not in gone.output
    assert [s for s in site.objects("secrets") if s["metadata"]["name"].startswith("hm-jit-")] == []
    (failed,) = _audit("deploy.failed")
    assert failed.details["tenant"] == "shop" and CANARY not in json.dumps(failed.details)


def test_the_api_accepts_a_deployment_with_202_and_its_job_carries_it_out(site: KubeStandIn) -> None:
    hm = Harbourmaster.from_environ()
    token = create_token(hm, user="ops", name="test", actor="tests").token.reveal()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(hm)) as client:
        denied = client.post(
            "/api/v1/environments/k8s/deployments",
            json={"content": manifest(image=f"{HOST}/shop/web@{UNSCANNED}"), "namespace": "shop"},
            headers=headers,
        )
        assert denied.status_code == 403, denied.text
        assert denied.headers["content-type"].startswith("application/problem+json")
        assert any("unscanned" in d for d in denied.json()["errors"])

        accepted = client.post(
            "/api/v1/environments/k8s/deployments",
            json={"content": manifest(), "namespace": "shop", "name": "web-api"},
            headers=headers,
        )
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["deployment"]["state"] == "queued"
        assert accepted.headers["Location"] == f"/api/v1/jobs/{body['job_id']}"
        assert site.objects("secrets") == [] and site.get("deployments", "shop", "web") is None

        job = run_one(hm, owner="test-worker")
        assert job is not None and job.state.value == "succeeded", job
        shown = client.get(f"/api/v1/deployments/{body['deployment']['id']}", headers=headers).json()
        assert shown["state"] == "deployed" and shown["result"]["applied"] == ["Deployment/web"]
        listed = client.get("/api/v1/deployments", params={"environment": "k8s"}, headers=headers).json()
        assert [d["id"] for d in listed] == [shown["id"]]
        assert site.objects("secrets") == []

        removed = client.delete(f"/api/v1/deployments/{shown['id']}", headers=headers)
        assert removed.status_code == 200 and removed.json()["state"] == "removed"
        missing = client.delete("/api/v1/deployments/dep-000000000000", headers=headers)
        assert missing.status_code == 404 and missing.headers["content-type"].startswith(
            "application/problem+json"
        )
