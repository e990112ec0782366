"""The kubelet credential provider end to end, with real components: ``harbourmaster serve`` over TLS
(a test CA, SQLite home), the distribution registry with htpasswd holding a pushed image, a Kubernetes
environment whose service-account tokens are signed here as the cluster's API server signs them, and
``harbourmaster credential-provider`` exec'd as the kubelet execs it (request on stdin, the env of the
printed CredentialProviderConfig).  The credential it answers pulls the manifest from the registry; a
namespace without a grant, a bad service-account token and another environment's node get nothing; the
registry's password is nowhere but in the answer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests._helpers import cli_ok
from tests.components import free_port, stop_process, wait_until
from tests.deploy._sa_tokens import SigningKey, bound_claims, issue, jwks
from tests.integration.registry_fixtures import (
    PASSWORD,
    CertificateAuthority,
    RunningRegistry,
    skopeo,
    start_registry,
    write_image_layout,
)

pytestmark = pytest.mark.integration

ISSUER = "https://kubernetes.stage.example"
REPO = "team/app"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+s)?$|^0s$")

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_CP_LAB_SECRET}}
    tls: {{insecure: true}}
environments:
  # The lab registry is plain HTTP, which only the development tier accepts.
  - name: stage
    kind: kubernetes
    tier: development
    namespaces: [apps, other]
    service_account_issuer: {issuer}
    jwks: '{jwks}'
  - {{name: elsewhere, kind: kubernetes, tier: development, namespaces: [apps],
      service_account_issuer: {issuer}, jwks: '{jwks}'}}
grants:
  - {{registry: lab, environment: stage, namespaces: [apps]}}
  - {{registry: lab, environment: elsewhere, namespaces: [apps]}}
"""


@dataclass
class Lab:
    registry: RunningRegistry
    digest: str
    base: str
    ca_file: Path
    key: SigningKey
    plugin_env: dict[str, str]
    provider: dict[str, Any]
    server_log: Path
    tmp: Path


def _serve(
    env: dict[str, str], *, cert: Path, key: Path, ca: Path, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harbourmaster", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--tls-cert", str(cert), "--tls-key", str(key)],
            env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
    base = f"https://127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{base}/healthz", verify=str(ca), timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=30.0, what="harbourmaster serve over TLS")
    return proc, base


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    registry = start_registry(tmp_path / "registry", auth="htpasswd")
    proc = None
    try:
        layout = tmp_path / "layout"
        digest = write_image_layout(layout)
        skopeo(registry, "copy", f"oci:{layout}:v1", f"docker://{registry.host}/{REPO}:v1")
        ca = CertificateAuthority.create()
        cert_pem, key_pem = ca.issue("harbourmaster", server=True)
        ca_file, cert, key = tmp_path / "ca.pem", tmp_path / "server.pem", tmp_path / "server.key"
        ca_file.write_text(ca.pem)
        cert.write_text(cert_pem)
        key.write_text(key_pem)
        signing = SigningKey.rsa()
        monkeypatch.setenv("HM_CP_LAB_SECRET", PASSWORD)
        doc = tmp_path / "governance.yaml"
        doc.write_text(GOVERNANCE.format(host=registry.host, user=registry.username, issuer=ISSUER,
                                         jwks=json.dumps(jwks(signing))))  # fmt: skip
        cli_ok("init")
        cli_ok("apply", "-f", str(doc))
        token_file = tmp_path / "node.token"
        cli_ok("token", "create", "--node", "worker-1", "--env", "stage", "-o", str(token_file))
        log = tmp_path / "server.log"
        env = {**os.environ, "HARBOURMASTER_LOG_LEVEL": "debug", "HARBOURMASTER_LOG_FORMAT": "json"}
        proc, base = _serve(env, cert=cert, key=key, ca=ca_file, log=log)
        config = yaml.safe_load(cli_ok(
            "credential-provider", "config", "--env", "stage", "--server", base, "--ca-file", str(ca_file),
            "--token-file", str(token_file),
        ))  # fmt: skip
        (provider,) = config["providers"]
        plugin_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        plugin_env |= {e["name"]: e["value"] for e in provider["env"]}
        yield Lab(registry, digest, base, ca_file, signing, plugin_env, provider, log, tmp_path)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if registry.proc is not None:
            stop_process(registry.proc)


def _sa_token(lab: Lab, *, namespace: str = "apps", key: SigningKey | None = None, **claims: Any) -> str:
    claims.setdefault("iat", int(time.time()) - 10)
    signed = bound_claims(namespace=namespace, issuer=ISSUER, **claims)
    return issue(key or lab.key, signed, header={"kid": lab.key.kid})


def _exec_plugin(
    lab: Lab, image: str, sa_token: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """As the kubelet does: the provider's args, its env, the request on stdin."""
    request = {
        "apiVersion": lab.provider["apiVersion"],
        "kind": "CredentialProviderRequest",
        "image": image,
        "serviceAccountToken": sa_token,
        "serviceAccountAnnotations": {},
    }
    return subprocess.run(
        [sys.executable, "-m", "harbourmaster", *lab.provider["args"]],
        input=json.dumps(request).encode(),
        env=env or lab.plugin_env,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_the_kubelet_gets_a_credential_that_pulls_the_image(lab: Lab) -> None:
    image = f"{lab.registry.host}/{REPO}@{lab.digest}"
    result = _exec_plugin(lab, image, _sa_token(lab))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    response = json.loads(result.stdout)
    # credentialprovider.kubelet.k8s.io/v1 CredentialProviderResponse.
    assert response["apiVersion"] == "credentialprovider.kubelet.k8s.io/v1"
    assert response["kind"] == "CredentialProviderResponse"
    assert response["cacheKeyType"] in ("Image", "Registry", "Global")
    assert GO_DURATION.match(response["cacheDuration"]), response["cacheDuration"]
    assert set(response) <= {"apiVersion", "kind", "cacheKeyType", "cacheDuration", "auth"}
    (key, auth) = next(iter(response["auth"].items()))
    assert len(response["auth"]) == 1 and key == f"{lab.registry.host}/{REPO}"
    assert set(auth) == {"username", "password"}
    # The credential pulls the manifest.
    manifest = httpx.get(
        f"{lab.registry.url}/v2/{REPO}/manifests/{lab.digest}",
        auth=(auth["username"], auth["password"]),
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        timeout=10,
    )
    assert manifest.status_code == 200, manifest.text
    assert httpx.get(f"{lab.registry.url}/v2/{REPO}/manifests/{lab.digest}", timeout=10).status_code == 401
    issued = [e for e in _audit() if e["action"] == "pull-credentials.issue" and e["result"] == "ok"]
    (entry,) = issued
    assert entry["actor"] == "node:worker-1"
    details = entry["details"]
    assert (details["node"], details["namespace"], details["service_account"]) == ("worker-1", "apps", "api")
    assert (details["image"], details["digest"], details["registry"]) == (image, lab.digest, "lab")
    assert details["credential"] == lab.registry.username


def test_refusals_exit_1_with_nothing_on_stdout(lab: Lab) -> None:
    image = f"{lab.registry.host}/{REPO}@{lab.digest}"
    now = int(time.time())
    refused = {
        "namespace without a grant": _sa_token(lab, namespace="other"),
        "another audience": _sa_token(lab, audience=["kubernetes"]),
        "expired": _sa_token(lab, iat=now - 7200),
        "wrong signature": _sa_token(lab, key=SigningKey.rsa()),
    }
    for what, sa in refused.items():
        result = _exec_plugin(lab, image, sa)
        assert result.returncode == 1, f"{what}: {result.stdout!r}"
        assert result.stdout == b"", what
        line = result.stderr.decode()
        assert line.startswith("harbourmaster credential-provider:") and line.count("\n") == 1, line
    entries = [e for e in _audit() if e["action"] == "pull-credentials.issue"]
    assert [e["result"] for e in entries] == ["refused"] * len(refused)


def test_a_node_of_another_environment_is_refused(lab: Lab) -> None:
    other = lab.tmp / "other.token"
    cli_ok("token", "create", "--node", "worker-9", "--env", "elsewhere", "-o", str(other))
    token = other.read_text().strip()
    answer = httpx.post(
        f"{lab.base}/api/v1/environments/stage/pull-credentials",
        json={"image": f"{lab.registry.host}/{REPO}@{lab.digest}", "service_account_token": _sa_token(lab)},
        headers={"Authorization": f"Bearer {token}"},
        verify=str(lab.ca_file),
        timeout=10,
    )
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    # Nor anything else of the API.
    listed = httpx.get(f"{lab.base}/api/v1/tokens", headers={"Authorization": f"Bearer {token}"},
                       verify=str(lab.ca_file), timeout=10)  # fmt: skip
    assert listed.status_code == 403
    env = {**lab.plugin_env, "HM_CREDENTIAL_PROVIDER_NODE_TOKEN_FILE": str(other)}
    result = _exec_plugin(lab, f"{lab.registry.host}/{REPO}@{lab.digest}", _sa_token(lab), env)
    assert result.returncode == 1 and result.stdout == b""


def test_the_password_is_nowhere_but_in_the_answer(lab: Lab) -> None:
    image = f"{lab.registry.host}/{REPO}@{lab.digest}"
    assert _exec_plugin(lab, image, _sa_token(lab)).returncode == 0
    bodies = []
    for sa in (_sa_token(lab, namespace="other"), _sa_token(lab, audience="x"), "a.b.c"):
        result = _exec_plugin(lab, image, sa)
        bodies.append(result.stdout + result.stderr)
        answer = httpx.post(
            f"{lab.base}/api/v1/environments/stage/pull-credentials",
            json={"image": image, "service_account_token": sa},
            headers={"Authorization": f"Bearer {(lab.tmp / 'node.token').read_text().strip()}"},
            verify=str(lab.ca_file),
            timeout=10,
        )
        bodies.append(answer.content)
    audit = "\n".join(json.dumps(e) for e in _audit())
    assert "pull-credentials.issue" in audit
    for where, text in [("audit", audit.encode()), ("server log", lab.server_log.read_bytes()), *[
        ("error body", b) for b in bodies
    ]]:
        assert PASSWORD.encode() not in text, f"the registry password is in the {where}"


def _audit() -> list[dict[str, Any]]:
    lines = cli_ok("audit", "export", "--no-checkpoint").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
