"""A real ``harbourmaster webhook serve`` over HTTPS for the webhook tests.

The server is a subprocess on a free 127.0.0.1 port with a self-signed certificate made here; its
data directory has a governance model granting a real distribution registry (``registry_anonymous``)
and a *local stand-in* registry that accepts connections and never answers (to hold the budget).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harbourmaster.cli._common import local_principal
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from tests.components import free_port, stop_process, wait_until
from tests.integration.registry_fixtures import RunningRegistry, skopeo, write_image_layout

#: The stand-in registry's credential: it must never appear in an answer or a log line.
CANARY = "hm-webhook-canary-7f3a9c1e5b"


@dataclass(frozen=True)
class TlsPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Site:
    """A data directory with the test model: its environment variables and what it grants."""

    env: dict[str, str]
    registry: RunningRegistry
    stall: str  # host:port of the stand-in that never answers
    image: str  # registry/web/app:v1 on the real registry
    digest: str


@pytest.fixture(scope="session")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> TlsPair:
    root = tmp_path_factory.mktemp("webhook-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "harbourmaster-webhook.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return TlsPair(root / "tls.crt", root / "tls.key")


@pytest.fixture(scope="session")
def stall_registry() -> Iterator[str]:
    """A local stand-in for a registry that hangs: it accepts TCP connections (the kernel's backlog)
    and never reads or answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture(scope="session")
def pushed_image(registry_anonymous: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``web/app:v1`` pushed to the real registry; its digest."""
    layout = tmp_path_factory.mktemp("webhook-image") / "layout"
    digest = write_image_layout(layout, tag="v1", seed="webhook")
    skopeo(registry_anonymous, "copy", f"oci:{layout}:v1", f"docker://{registry_anonymous.host}/web/app:v1")
    return digest


def governance(registry_host: str, stall: str, *, grant_real: bool = True) -> str:
    grants = (
        f"""
  - registry: real
    environment: {env}
    namespaces: [web, default]"""
        for env in ("dev", "dev-audit", "dev-ignore")
    )
    return f"""apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: real
    provider: custom
    url: http://{registry_host}
    scope: web
    tls: {{insecure: true}}
  - name: stall
    provider: custom
    url: http://{stall}
    scope: web
    tls: {{insecure: true}}
    credential: {{kind: user, username: bot, secret: env:HM_WEBHOOK_CANARY}}
environments:
  - name: dev
    kind: kubernetes
    tier: development
    namespaces: [web, default]
    failure_policy: Fail
  - name: dev-audit
    kind: kubernetes
    tier: development
    namespaces: [web, default]
    admission: audit
    failure_policy: Fail
  - name: dev-ignore
    kind: kubernetes
    tier: development
    namespaces: [web, default]
grants:{"".join(grants) if grant_real else ""}
  - registry: stall
    environment: dev
    namespaces: [web]
tiers:
  development: {{block_severity: critical, advisory_severity: medium, unscanned: allow}}
settings:
  hide_dockerhub_anonymous: true
"""


def apply_text(env: Mapping[str, str], text: str, *, prune: bool = False) -> None:
    hm = Harbourmaster.from_environ(dict(env))
    result = apply_document(
        hm, local_principal(hm), text, source="test.yaml", host=hm.host_files(), prune=prune
    )
    assert result.applied or result.changes == []


def site_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOURMASTER_")}
    env.update({"HARBOURMASTER_HOME": str(home), "HM_WEBHOOK_CANARY": CANARY, "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


@pytest.fixture
def site(
    tmp_path: Path,
    registry_anonymous: RunningRegistry,
    pushed_image: str,
    stall_registry: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Site:
    monkeypatch.setenv("HM_WEBHOOK_CANARY", CANARY)  # apply reads env: secrets from this process
    env = site_env(tmp_path / "home", {"HARBOURMASTER_ADMISSION_BUDGET_SECONDS": "0.5"})
    hm = Harbourmaster.from_environ(env)
    hm.init()
    apply_text(env, governance(registry_anonymous.host, stall_registry))
    return Site(
        env=env,
        registry=registry_anonymous,
        stall=stall_registry,
        image=f"{registry_anonymous.host}/web/app:v1",
        digest=pushed_image,
    )


@dataclass
class Webhook:
    base: str
    proc: subprocess.Popen[bytes]
    log: Path
    client: httpx.Client

    def post(self, path: str, body: object, **kw: Any) -> httpx.Response:
        if isinstance(body, bytes):
            return self.client.post(f"{self.base}{path}", content=body, **kw)
        return self.client.post(f"{self.base}{path}", json=body, **kw)


@contextlib.contextmanager
def running_webhook(
    env: Mapping[str, str], tls: TlsPair, log: Path, *, extra: tuple[str, ...] = (), client_cert: bool = False
) -> Iterator[Webhook]:
    """``webhook serve`` on a free port (``extra`` arguments; ``client_cert``: the test client presents
    the TLS pair as its certificate); stopped (SIGTERM: the audit queue is flushed) at the end."""
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "harbourmaster", "webhook", "serve",
                "--cert", str(tls.cert), "--key", str(tls.key),
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "info", *extra,
            ],
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=str(tls.cert))
    if client_cert:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    client = httpx.Client(verify=context, timeout=10)
    try:
        wait_until(lambda: client.get(f"{base}/healthz").status_code == 200, what="webhook serve")
        yield Webhook(base, proc, log, client)
    finally:
        client.close()
        stop_process(proc)


@pytest.fixture
def webhook(site: Site, tls_pair: TlsPair, tmp_path: Path) -> Iterator[Webhook]:
    with running_webhook(site.env, tls_pair, tmp_path / "webhook.log") as running:
        yield running


def review(obj: Mapping[str, Any] | None, *, kind: tuple[str, str, str], **request: Any) -> dict[str, Any]:
    """An AdmissionReview v1 for ``obj`` of ``kind`` (group, version, kind)."""
    group, version, name = kind
    body: dict[str, Any] = {
        "uid": request.pop("uid", "uid-1"),
        "kind": {"group": group, "version": version, "kind": name},
        "resource": {"group": group, "version": version, "resource": name.lower() + "s"},
        "namespace": request.pop("namespace", "web"),
        "operation": request.pop("operation", "CREATE"),
        "userInfo": {"username": request.pop("user", "alice"), "groups": ["system:authenticated"]},
        **request,
    }
    if obj is not None:
        body["object"] = obj
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body}


def pod(*images: str, init: tuple[str, ...] = (), ephemeral: tuple[str, ...] = ()) -> dict[str, Any]:
    def containers(names: tuple[str, ...], prefix: str) -> list[dict[str, str]]:
        return [{"name": f"{prefix}{i}", "image": image} for i, image in enumerate(names)]

    spec: dict[str, Any] = {"containers": containers(images, "c")}
    if init:
        spec["initContainers"] = containers(init, "i")
    if ephemeral:
        spec["ephemeralContainers"] = containers(ephemeral, "e")
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "web"}, "spec": spec}
