"""The just-in-time Secret reaper ``serve`` runs (issue 13): a Kubernetes deployment killed with SIGKILL
between creating its ``hm-jit-*`` pull Secret and deleting it leaves the Secret behind, and the reaper
loop of ``serve``'s lifespan deletes it within its interval once the Secret's window has passed,
audited as ``jit-reaper:<environment>`` — while another environment's API server cannot be reached
(its failure audited once, not every pass).  The API server is the HTTPS stand-in of
``tests/kube_standin.py``; the environment with a reachable one is given as a kubeconfig."""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.deploy.kubernetes.jit_secrets import LABEL_EXPIRES
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.jit import JitReaper
from tests.components import free_port, wait_until
from tests.integration.registry_fixtures import CertificateAuthority
from tests.kube_standin import KubeStandIn

pytestmark = pytest.mark.integration

ADMIN = Principal("admin", Role.ADMINISTRATOR)
TOKEN = "hm-jit-reaper-token-canary-93d1"
HOST = "harbor.corp"
USER = "robot$shop"
PASSWORD = "hm-jit-reaper-registry-canary-5b20"
SECRET = "hm-jit-rel-killed"

#: Deploys through KubernetesTarget.apply with a 1 s window; the stand-in never pulls, so it waits.
DEPLOY = textwrap.dedent(
    """
    import os
    from harbourmaster.deploy.interface import RegistryAuth
    from harbourmaster.deploy.kubernetes.jit_secrets import KubernetesTarget
    from harbourmaster.domain.secret import Secret

    target = KubernetesTarget.connect(
        os.environ["HM_TEST_API_SERVER"], token=Secret(os.environ["HM_TEST_TOKEN"]),
        ca_pem=os.environ["HM_TEST_CA"], poll_interval=0.05,
    )
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "harbor.corp/shop/web:1"}]}}},
    }
    credentials = {"harbor.corp": RegistryAuth("robot$shop", Secret(os.environ["HM_TEST_PASSWORD"]))}
    target.apply("shop", [deployment], credentials, "rel-killed", window_seconds=1, timeout=600)
    """
)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[tuple[KubeStandIn, CertificateAuthority]]:
    ca = CertificateAuthority.create()
    cert, key = ca.issue("kube-apiserver", server=True)
    (tmp_path / "server.pem").write_text(cert)
    (tmp_path / "server.key").write_text(key)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    # Pods never report their images pulled: a deployment waits for them until it is killed.
    server = KubeStandIn(canary={HOST: (USER, PASSWORD)}, namespaces=("shop",), token=TOKEN,
                         pull_seconds=3600)  # fmt: skip
    server.start(tls=context)
    try:
        yield server, ca
    finally:
        server.stop()


def kubeconfig(server: KubeStandIn, ca: CertificateAuthority) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {
            "server": server.url, "certificate-authority-data": base64.b64encode(ca.pem.encode()).decode()}}],
        "users": [{"name": "deployer", "user": {"token": TOKEN}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "deployer"}}],
    })  # fmt: skip


def site(
    server: KubeStandIn,
    ca: CertificateAuthority,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    every: str,
) -> Harbourmaster:
    """A data directory with two Kubernetes environments: prod-k8s (the stand-in, from a kubeconfig)
    and dead-k8s (an API server nobody listens on)."""
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL", "0")
    monkeypatch.setenv("HARBOURMASTER_JIT_REAP_SECONDS", every)
    monkeypatch.setenv("HM_TEST_DEAD_TOKEN", TOKEN)
    hm = Harbourmaster.from_environ()
    hm.init()
    (tmp_path / "kubeconfig").write_text(kubeconfig(server, ca))
    document = {
        "apiVersion": "harbourmaster.io/v1", "kind": "Governance",
        "environments": [
            {"name": "prod-k8s", "kind": "kubernetes", "tier": "production", "namespaces": ["shop"],
             "kubeconfig": f"file:{tmp_path / 'kubeconfig'}"},
            {"name": "dead-k8s", "kind": "kubernetes", "tier": "staging", "namespaces": ["shop"],
             "api_server": f"https://127.0.0.1:{free_port()}", "token": "env:HM_TEST_DEAD_TOKEN",
             "tls": {"ca_bundle": ca.pem}},
        ],
    }  # fmt: skip
    apply_document(hm, ADMIN, yaml.safe_dump(document), source="test.yaml", host=hm.host_files())
    return hm


def audited(hm: Harbourmaster, action: str) -> list[tuple[str, str, dict[str, object]]]:
    with hm.store.read() as tx:
        return [(e.actor, e.target, dict(e.details)) for e in tx.audit.entries() if e.action == action]


def everything_audited(hm: Harbourmaster) -> str:
    with hm.store.read() as tx:
        return "".join(e.actor + e.target + json.dumps(e.details) for e in tx.audit.entries())


def test_a_deployment_killed_mid_rollout_leaves_a_secret_the_serve_reaper_deletes_after_its_window(
    standin: tuple[KubeStandIn, CertificateAuthority],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server, ca = standin
    hm = site(server, ca, tmp_path, monkeypatch, every="0.2")
    env = {**os.environ, "HM_TEST_API_SERVER": server.url, "HM_TEST_TOKEN": TOKEN, "HM_TEST_CA": ca.pem,
           "HM_TEST_PASSWORD": PASSWORD}  # fmt: skip
    deploying = subprocess.Popen([sys.executable, "-c", DEPLOY], env=env, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: server.get("secrets", "shop", SECRET) is not None or deploying.poll() is not None,
                   timeout=60, what="the deployment's pull Secret")  # fmt: skip
        assert deploying.poll() is None, deploying.stderr.read() if deploying.stderr else ""
        wait_until(lambda: bool(server.objects("pods", "shop")), what="the deployment's pods")
    finally:
        os.kill(deploying.pid, signal.SIGKILL)
        deploying.wait(10)
    assert deploying.returncode == -signal.SIGKILL
    left = server.get("secrets", "shop", SECRET)
    assert left is not None, "the killed deployment cleaned up after all"
    expires = int(left["metadata"]["labels"][LABEL_EXPIRES])

    caplog.set_level(logging.DEBUG, logger="harbourmaster")
    with TestClient(create_app(hm)) as client:
        loop = client.app.state.jit_reaper  # type: ignore[attr-defined]
        assert loop is not None and loop.interval == 0.2
        wait_until(lambda: server.get("secrets", "shop", SECRET) is None, timeout=10,
                   what="the reaper deleting the left Secret")  # fmt: skip
        deleted_at = time.time()
        passes = loop.passes
        wait_until(lambda: loop.passes >= passes + 3, timeout=10, what="three more reaper passes")
    # Deleted once its window had passed, within the interval (and a pass's own time) after it.
    assert expires <= deleted_at < expires + 1 + 0.2 + 2
    (reap,) = audited(hm, "jit.reap")
    assert reap == ("jit-reaper:prod-k8s", "environment prod-k8s",
                    {"api_server": server.url, "credential": reap[2]["credential"],
                     "deleted": [f"shop/{SECRET}"]})  # fmt: skip
    # The unreachable environment did not stop prod-k8s's reaping, and its failure is audited once.
    (failed,) = audited(hm, "jit.reap.failed")
    assert failed[0] == "jit-reaper:dead-k8s" and "cannot be reached" in str(failed[2]["error"])
    assert "could not reap dead-k8s" in caplog.text
    assert TOKEN not in everything_audited(hm) and TOKEN not in caplog.text
    assert PASSWORD not in everything_audited(hm) and PASSWORD not in caplog.text


def test_reap_all_reports_each_environment_and_audits_a_failure_once_per_distinct_error(
    standin: tuple[KubeStandIn, CertificateAuthority], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = standin
    hm = site(server, ca, tmp_path, monkeypatch, every="60")
    reaper = JitReaper(hm)
    first = {r.environment: r for r in reaper.reap_all()}
    assert first["prod-k8s"].error is None and first["prod-k8s"].deleted == ()
    assert first["dead-k8s"].error is not None and "cannot be reached" in first["dead-k8s"].error
    reaper.reap_all()
    assert not audited(hm, "jit.reap")  # nothing deleted, nothing recorded
    assert len(audited(hm, "jit.reap.failed")) == 1
    # A new error on an environment is audited; an environment that recovers is forgotten.
    url = server.url
    server.stop()
    results = {r.environment: r for r in reaper.reap_all()}
    assert results["prod-k8s"].error is not None and url in results["prod-k8s"].error
    reaper.reap_all()
    actors = sorted(a[0] for a in audited(hm, "jit.reap.failed"))
    assert actors == ["jit-reaper:dead-k8s", "jit-reaper:prod-k8s"]
    assert TOKEN not in everything_audited(hm)


def test_serve_without_a_reaper_when_the_interval_is_zero(
    standin: tuple[KubeStandIn, CertificateAuthority], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, ca = standin
    hm = site(server, ca, tmp_path, monkeypatch, every="0")
    requests = len(server.requests)
    with TestClient(create_app(hm)) as client:
        assert client.app.state.jit_reaper is None  # type: ignore[attr-defined]
    assert len(server.requests) == requests
