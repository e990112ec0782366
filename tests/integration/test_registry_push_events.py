"""Push-time scanning with the real distribution registry: its config.yml carries the snippet that
``harbourmaster registry notifications`` prints, skopeo pushes an image, the registry notifies
``harbourmaster serve`` (SQLite, embedded worker), and the pushed digest ends scanned; the SBOM that
the job attaches starts no scan of its own; a pull is audited with the digest and the puller."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from tests._helpers import cli_ok
from tests.components import ensure_binary, free_port, running_serve, stop_process, wait_until
from tests.integration.registry_fixtures import (
    PASSWORD,
    RunningRegistry,
    push_dpkg_image,
    skopeo,
    start_registry,
)
from tests.supply.advisories._osv import CVSS_CRITICAL, fixed_at, record, write_dir

pytestmark = pytest.mark.integration

REPO = "team/app"

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_PUSH_LAB_SECRET}}
    tls: {{insecure: true}}
users:
  - {{name: ops, role: administrator}}
environments:
  # The lab registry is plain HTTP, which only the development tier accepts.
  - {{name: stage, kind: kubernetes, tier: development, namespaces: [apps]}}
grants:
  - {{registry: lab, environment: stage, namespaces: [apps]}}
tiers:
  # Only the push-time scan may make an image deployable here: no scanning at verdict time.
  development: {{block_severity: high, unscanned: block}}
"""


def _restart(registry: RunningRegistry) -> None:
    """Start the registry again (same port, same storage) on its rewritten config.yml."""
    assert registry.proc is not None
    stop_process(registry.proc)
    binary = ensure_binary("docker-registry", "docker-registry")
    log = open(registry.root / "registry.log", "ab")  # noqa: SIM115 - lives as long as the process
    registry.proc = subprocess.Popen(
        [binary, "serve", str(registry.root / "config.yml")], stdout=log, stderr=log
    )

    def ready() -> bool:
        assert registry.proc is not None
        assert registry.proc.poll() is None, (registry.root / "registry.log").read_text()
        try:
            return httpx.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401)
        except httpx.HTTPError:
            return False

    wait_until(ready, what="docker-registry with notifications")


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    registry = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        monkeypatch.setenv("HM_PUSH_LAB_SECRET", PASSWORD)
        doc = tmp_path / "governance.yaml"
        doc.write_text(GOVERNANCE.format(host=registry.host, user=registry.username))
        cli_ok("init")
        cli_ok("apply", "-f", str(doc))
        cli_ok("token", "create", "--user", "ops", "-o", str(tmp_path / "ops.token"))
        port = free_port()
        snippet = cli_ok("registry", "notifications", "lab", "--url", f"http://127.0.0.1:{port}")
        notifications = yaml.safe_load(snippet)["notifications"]
        config = json.loads((registry.root / "config.yml").read_text())
        (registry.root / "config.yml").write_text(json.dumps({**config, "notifications": notifications}))
        _restart(registry)
        with running_serve(dict(os.environ), port=port) as (base, _):
            yield {
                "registry": registry,
                "base": base,
                "token": (tmp_path / "ops.token").read_text().strip(),
                "secret": notifications["endpoints"][0]["headers"]["Authorization"][0],
            }
    finally:
        if registry.proc is not None:
            stop_process(registry.proc)


def _push_jobs(lab: dict[str, Any]) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{lab['base']}/api/v1/jobs",
        params={"limit": 100},
        headers={"Authorization": f"Bearer {lab['token']}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return [j for j in answer.json() if j["kind"] == "registry.push"]


def _audit() -> list[dict[str, Any]]:
    lines = cli_ok("audit", "export", "--no-checkpoint").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_push_is_scanned_and_a_pull_audited(lab: dict[str, Any], tmp_path: Path) -> None:
    registry: RunningRegistry = lab["registry"]
    digest = push_dpkg_image(registry, tmp_path, REPO)
    image = f"{registry.host}/{REPO}@{digest}"

    def scanned() -> bool:
        jobs = [j for j in _push_jobs(lab) if j["payload"]["digest"] == digest]
        assert all(j["state"] != "failed" for j in jobs), jobs
        return any(j["state"] == "succeeded" for j in jobs)

    wait_until(scanned, timeout=120, what="the registry.push job of the pushed image")
    (job,) = [j for j in _push_jobs(lab) if j["payload"]["digest"] == digest]
    assert job["created_by"] == "registry:lab"
    result = job["result"]
    assert result["image"] == image and "skipped" not in result
    assert result["sbom"]["packages"] > 100  # the dpkg status file's packages
    assert result["scan"] is not None
    assert "refused" not in (result["attached"] or {}), result["attached"]
    # The pusher is in the audit log, with the job that scanned the push.
    pushes = [e for e in _audit() if e["action"] == "registry.push" and e["details"]["digest"] == digest]
    assert pushes and pushes[0]["details"]["actor"] == registry.username
    assert pushes[0]["details"]["tag"] == "v1" and pushes[0]["details"]["job"] == job["id"]
    assert any(e["action"] == "sbom.generate" and e["details"].get("digest") == digest for e in _audit())

    # The attached SBOM is an artifact: its push is skipped (or ignored), never scanned in turn.
    def settled() -> bool:
        return all(j["state"] in ("succeeded", "failed") for j in _push_jobs(lab))

    wait_until(settled, timeout=60, what="the push jobs to end")
    time.sleep(3)  # a loop would show up as more jobs
    others = [j for j in _push_jobs(lab) if j["payload"]["digest"] != digest]
    assert all(j["state"] == "succeeded" and "skipped" in j["result"] for j in others), others
    assert len(_push_jobs(lab)) == 1 + len(others) <= 2

    # A pull, by the registry's user, is audited with the digest.
    skopeo(registry, "inspect", "--raw", f"docker://{registry.host}/{REPO}:v1")

    def pulled() -> bool:
        return any(e["action"] == "registry.pull" and e["details"]["digest"] == digest for e in _audit())

    wait_until(pulled, timeout=60, what="the registry.pull audit record")
    pull = next(e for e in _audit() if e["action"] == "registry.pull" and e["details"]["digest"] == digest)
    assert pull["actor"] == "registry:lab"
    assert pull["details"]["actor"] == registry.username
    assert pull["details"]["repository"] == REPO
    assert pull["details"]["addr"]
    # The secret is in the registry's config only.
    assert lab["secret"].split()[1] not in json.dumps(_audit())


def _check(image: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(
        app, ["check", "--env", "stage", "-n", "apps", image, "--json"], catch_exceptions=False
    )
    assert result.exit_code in (0, 1), result.output
    (row,) = json.loads(result.stdout)
    return result.exit_code, row


def test_the_push_scan_decides_the_verdict_and_a_new_advisory_flips_it(
    lab: dict[str, Any], tmp_path: Path
) -> None:
    registry: RunningRegistry = lab["registry"]
    image = f"{registry.host}/{REPO}:v1"
    # Before any push: the tag does not exist, nothing is scanned, staging denies unscanned images.
    digest = push_dpkg_image(registry, tmp_path, REPO)
    pinned = f"{registry.host}/{REPO}@{digest}"

    def judged_by_the_push_scan() -> bool:
        return _check(pinned)[1]["verdict"]["vulnerabilities"]["status"] != "unscanned"

    wait_until(judged_by_the_push_scan, timeout=120, what="the push-time scan to reach the verdict")
    code, row = _check(image)
    assert code == 0, row
    assert row["allowed"] is True and row["digest"] == digest
    parts = row["verdict"]
    assert parts["vulnerabilities"]["status"] == "pass" and parts["vulnerabilities"]["scanned_at"]
    assert parts["signature"]["status"] == "not-required"

    # A critical advisory for the image's openssl: correlation finds the pushed digest newly affected,
    # its kept scan is refreshed in the import's wake, and the very next verdict denies it.
    advisories = write_dir(
        tmp_path / "osv",
        [
            record(
                "DSA-PUSH-1",
                "Debian:12",
                "openssl",
                events=fixed_at("99.0"),
                aliases=["CVE-2099-7"],
                cvss=CVSS_CRITICAL,
            )
        ],
    )
    cli_ok("vulndb", "import", str(advisories))
    code, row = _check(image)
    assert code == 1, row
    vulnerabilities = row["verdict"]["vulnerabilities"]
    assert vulnerabilities["status"] == "block"
    assert any("DSA-PUSH-1" in blocking for blocking in vulnerabilities["blocking"])
    assert any("DSA-PUSH-1" in reason for reason in row["reasons"])
    refreshed = [
        e for e in _audit() if e["action"] == "image.scan-recorded" and digest in e["details"]["digests"]
    ]
    assert [e["details"]["origin"] for e in refreshed][-1] == "stored-sbom"
    # The same verdict through the API, as every enforcement point answers it.
    answer = httpx.post(
        f"{lab['base']}/api/v1/decisions",
        json={"environment": "stage", "namespace": "apps", "images": [pinned]},
        headers={"Authorization": f"Bearer {lab['token']}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    (api_row,) = answer.json()
    assert api_row["allowed"] is False
    assert api_row["verdict"]["vulnerabilities"]["blocking"] == vulnerabilities["blocking"]
    assert api_row["verdict"]["policy_fingerprint"] == row["verdict"]["policy_fingerprint"]
