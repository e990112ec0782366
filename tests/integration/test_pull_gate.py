"""The registry pull gate with real clients and the real distribution registry (htpasswd auth, so the
client's own credentials pass through the gate): skopeo and a real Docker Engine (Debian docker.io)
pull an allowed image through the gate with the same digest as a direct pull, and a denied one fails
with the gate's 412 message; pulls are audited as ``registry.pull`` (via: gate)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbourmaster.services.core import Harbourmaster
from tests._helpers import critical_finding
from tests.components import ensure_binary, stop_process, unavailable, wait_until
from tests.gate._gate import govern, keep_scan, running_gate
from tests.integration.registry_fixtures import RunningRegistry, skopeo, start_registry, write_image_layout

pytestmark = pytest.mark.integration


def _push(registry: RunningRegistry, root: Path, repository: str, seed: str) -> str:
    layout = root / seed
    write_image_layout(layout, seed=seed, layer_sizes=(4096, 20000))
    skopeo(registry, "copy", f"oci:{layout}:v1", f"docker://{registry.host}/{repository}:v1")
    return skopeo(
        registry, "inspect", "--format", "{{.Digest}}", f"docker://{registry.host}/{repository}:v1"
    ).strip()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    registry = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        govern(tmp_path, registry.host)
        digests = {
            name: _push(registry, tmp_path / "images", f"team/{name}", name)
            for name in ("good", "vulnerable", "unscanned")
        }
        keep_scan(f"{registry.host}/team/good", digests["good"])
        vulnerable = critical_finding("CVE-2026-31337")
        keep_scan(f"{registry.host}/team/vulnerable", digests["vulnerable"], vulnerable)
        with running_gate() as gate:
            yield {"registry": registry, "gate": gate, "digests": digests, "root": tmp_path}
    finally:
        if registry.proc is not None:
            stop_process(registry.proc)


def _skopeo_raw(*args: str) -> subprocess.CompletedProcess[str]:
    binary = ensure_binary("skopeo", "skopeo")
    return subprocess.run([binary, "--insecure-policy", *args], capture_output=True, text=True, timeout=120,
                          check=False)


def _gate_pulls(timeout: float = 10.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        hm = Harbourmaster.from_environ()
        with hm.store.read() as tx:
            entries = [e for e in tx.audit.entries() if e.action == "registry.pull"]
        if entries or time.monotonic() > deadline:
            return entries
        time.sleep(0.2)


def test_skopeo_pulls_through_the_gate_allowed_same_digest_denied_with_412(lab: dict[str, Any]) -> None:
    registry, gate, digests = lab["registry"], lab["gate"], lab["digests"]
    creds = f"{registry.username}:{registry.password}"
    # Allowed: the same digest through the gate as directly, and the copy arrives whole.
    through = skopeo(registry, "inspect", "--format", "{{.Digest}}", f"docker://{gate}/team/good:v1").strip()
    assert through == digests["good"]
    out = lab["root"] / "pulled"
    skopeo(registry, "copy", f"docker://{gate}/team/good:v1", f"oci:{out}:v1")
    index = json.loads((out / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digests["good"]

    # Denied by the kept scan's critical finding: skopeo fails and shows the gate's message.
    denied = _skopeo_raw("copy", "--src-tls-verify=false", "--src-creds", creds,
                         f"docker://{gate}/team/vulnerable:v1", f"oci:{lab['root'] / 'no'}:v1")
    assert denied.returncode != 0
    assert "denies" in denied.stderr and "CVE-2026-31337" in denied.stderr, denied.stderr
    assert "412" in denied.stderr or "Precondition Failed" in denied.stderr or "denied" in denied.stderr
    # Denied as unscanned (the tier's unscanned: block).
    unscanned = _skopeo_raw("inspect", "--tls-verify=false", "--creds", creds,
                            f"docker://{gate}/team/unscanned:v1")
    assert unscanned.returncode != 0 and "unscanned" in unscanned.stderr, unscanned.stderr

    # Authentication is the client's own: without credentials the upstream's challenge comes back.
    anonymous = _skopeo_raw("inspect", "--tls-verify=false", f"docker://{gate}/team/good:v1")
    assert anonymous.returncode != 0
    assert "unauthorized" in anonymous.stderr.lower() or "authentication" in anonymous.stderr.lower()
    challenge = httpx.get(f"http://{gate}/v2/", timeout=10)
    assert challenge.status_code == 401 and challenge.headers["www-authenticate"].startswith("Basic")

    # Every pull is audited: the allowed one and the refusals, with digest, tag, client and verdict.
    # The gate writes its records in batches, a fraction of a second behind the pulls: wait for all.
    expected = {("allowed", "team/good"), ("denied", "team/vulnerable"), ("denied", "team/unscanned")}

    def seen() -> set[tuple[str, str]]:
        return {(e.details.get("verdict"), e.details.get("repository")) for e in _gate_pulls()}

    deadline = time.monotonic() + 10
    while not expected <= seen() and time.monotonic() < deadline:
        time.sleep(0.2)
    entries = _gate_pulls()
    allowed = [e for e in entries if e.details["verdict"] == "allowed"]
    refused = [e for e in entries if e.details["verdict"] == "denied"]
    assert allowed and refused
    first = allowed[0]
    assert first.actor == "gate:lab" and first.details["via"] == "gate"
    assert first.target == f"{registry.host}/team/good@{digests['good']}"
    assert first.details["digest"] == digests["good"] and first.details["addr"] == "127.0.0.1"
    assert {e.details["repository"] for e in refused} >= {"team/vulnerable", "team/unscanned"}
    assert any(e.result == "denied" and "CVE-2026-31337" in " ".join(e.details["reasons"]) for e in refused)


# -- a real Docker Engine -------------------------------------------------------------------------


@pytest.fixture
def dockerd(tmp_path: Path) -> Iterator[str]:
    """A private Docker daemon (Debian docker.io) on a unix socket; its socket path."""
    ensure_binary("dockerd", "docker.io")
    root = Path("/tmp") / f"hm-gate-docker-{os.getpid()}"  # short: unix socket paths are bounded
    root.mkdir(parents=True, exist_ok=True)
    socket = root / "docker.sock"
    log = open(tmp_path / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "pid"), "-H", f"unix://{socket}", "--iptables=false",
         "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"],
        stdout=log, stderr=log,
    )

    def ready() -> bool:
        if proc.poll() is not None:
            unavailable(f"dockerd exited: {(tmp_path / 'dockerd.log').read_text()[-2000:]}")
        transport = httpx.HTTPTransport(uds=str(socket))
        with httpx.Client(transport=transport) as client:
            return client.get("http://docker/_ping", timeout=2).status_code == 200

    try:
        wait_until(ready, timeout=60.0, what="dockerd")
        yield str(socket)
    finally:
        stop_process(proc)  # dockerd stops its own containerd
        log.close()
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _docker_pull(socket: str, image: str, registry: RunningRegistry, server: str) -> tuple[int, str]:
    repo, _, tag = image.rpartition(":")
    auth = base64.urlsafe_b64encode(json.dumps(
        {"username": registry.username, "password": registry.password, "serveraddress": server}
    ).encode()).decode()
    transport = httpx.HTTPTransport(uds=socket)
    with httpx.Client(transport=transport, timeout=120) as client:
        answer = client.post("http://docker/v1.41/images/create", params={"fromImage": repo, "tag": tag},
                             headers={"X-Registry-Auth": auth})
    # The daemon streams JSON progress lines and a failed pull ends with an "error" line; a pull that
    # fails before streaming is answered with an error status and {"message": ...}.
    lines = [json.loads(line) for line in answer.text.splitlines() if line.strip()]
    errors = [line.get("error") or line.get("message") for line in lines]
    problems = " ".join(e for e in errors if e)
    return answer.status_code, problems


def _repo_digests(socket: str, image: str) -> list[str]:
    transport = httpx.HTTPTransport(uds=socket)
    with httpx.Client(transport=transport, timeout=30) as client:
        answer = client.get(f"http://docker/v1.41/images/{image}/json")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["RepoDigests"])


def test_docker_engine_pulls_through_the_gate(lab: dict[str, Any], dockerd: str) -> None:
    registry, gate, digests = lab["registry"], lab["gate"], lab["digests"]
    status, problems = _docker_pull(dockerd, f"{gate}/team/good:v1", registry, gate)
    assert status == 200 and not problems, problems
    assert f"{gate}/team/good@{digests['good']}" in _repo_digests(dockerd, f"{gate}/team/good:v1")
    # The same digest as a pull straight from the registry.
    status, problems = _docker_pull(dockerd, f"{registry.host}/team/good:v1", registry, registry.host)
    assert status == 200 and not problems, problems
    assert f"{registry.host}/team/good@{digests['good']}" in _repo_digests(
        dockerd, f"{registry.host}/team/good:v1"
    )

    status, problems = _docker_pull(dockerd, f"{gate}/team/vulnerable:v1", registry, gate)
    assert status != 200 or problems, "the denied pull must fail"
    print("docker engine:", status, problems)  # shown with -s: what an operator sees
    assert "denies" in problems and "CVE-2026-31337" in problems, problems
