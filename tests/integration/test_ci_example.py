"""``examples/ci/harbourmaster-ci.sh``, the build-time layer of the CI examples, run as CI runs it:
bash, curl and jq against a real ``harbourmaster serve`` and the real distribution registry.  It judges
by the server's tier (the fingerprint it prints is the server's), signs, attaches the SBOM, and fails
the job when the tier blocks the image."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.registry.media import referrers_tag
from harbourmaster.signing.oci import signature_tag
from tests.components import ensure_binary, running_serve
from tests.integration.registry_fixtures import PASSWORD, push_dpkg_image, skopeo
from tests.supply.advisories._osv import CVSS_CRITICAL, fixed_at, record, write_dir

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "ci" / "harbourmaster-ci.sh"
REPO = "hmci/app"

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab-ci
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_CI_LAB_SECRET}}
    tls: {{insecure: true}}
environments:
  - name: dev
    kind: docker-standalone
    tier: development
users:
  - {{name: ci-bot, role: platform-engineer}}
"""


@pytest.fixture
def served(
    registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    for tool in (("curl", "curl"), ("jq", "jq"), ("bash", "bash")):
        ensure_binary(*tool)
    monkeypatch.setenv("HM_CI_LAB_SECRET", PASSWORD)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    doc = tmp_path / "governance.yaml"
    doc.write_text(GOVERNANCE.format(host=registry_basic.host, user=registry_basic.username))
    run("init")
    run("apply", "-f", str(doc))
    run("signing-key", "generate", "ci-release")
    run("token", "create", "--user", "ci-bot", "-o", str(tmp_path / "ci.token"))
    token = (tmp_path / "ci.token").read_text().strip()
    with running_serve(dict(os.environ)) as (base, _pid):
        yield {"HARBOURMASTER_URL": base, "HARBOURMASTER_TOKEN": token, "registry": registry_basic.host}


def _ci(served: dict[str, str], image: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HARBOURMASTER_URL": served["HARBOURMASTER_URL"],
        "HARBOURMASTER_TOKEN": served["HARBOURMASTER_TOKEN"],
        "IMAGE": image,
        "TIER": "production",
    }
    return subprocess.run(
        [shutil.which("bash") or "bash", str(SCRIPT)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_ci_script_judges_by_the_servers_tier_signs_and_attaches(
    served: dict[str, str], registry_basic: RunningRegistry, tmp_path: Path
) -> None:
    digest = push_dpkg_image(registry_basic, tmp_path, REPO)
    image = f"{registry_basic.host}/{REPO}@{digest}"
    passed = _ci(served, image, tmp_path)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    policy = httpx.get(
        f"{served['HARBOURMASTER_URL']}/api/v1/policy",
        params={"tier": "production"},
        headers={"Authorization": f"Bearer {served['HARBOURMASTER_TOKEN']}"},
    ).json()
    assert policy["fingerprint"] in passed.stdout  # the rules judged by are the server's
    assert "production: allow" in passed.stdout
    sarif = json.loads((tmp_path / "harbourmaster.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert json.loads((tmp_path / "sbom.cdx.json").read_text())["bomFormat"] == "CycloneDX"
    # The independent peer sees the signature and the attached SBOM beside the image.
    sig = json.loads(
        skopeo(
            registry_basic,
            "inspect",
            "--raw",
            f"docker://{registry_basic.host}/{REPO}:{signature_tag(digest)}",
        )
    )
    assert len(sig["layers"]) == 1
    index = json.loads(
        skopeo(
            registry_basic,
            "inspect",
            "--raw",
            f"docker://{registry_basic.host}/{REPO}:{referrers_tag(digest)}",
        )
    )
    assert any(m.get("artifactType") == "application/vnd.cyclonedx+json" for m in index["manifests"])
    assert PASSWORD not in passed.stdout + passed.stderr
    assert served["HARBOURMASTER_TOKEN"] not in passed.stdout + passed.stderr

    # An advisory that makes the image's openssl critical: the production tier now blocks it, and the job
    # fails before signing.
    advisories = write_dir(
        tmp_path / "osv",
        [
            record(
                "DSA-CI-1",
                "Debian:12",
                "openssl",
                events=fixed_at("99.0"),
                aliases=["CVE-2099-9"],
                cvss=CVSS_CRITICAL,
            )
        ],
    )
    imported = CliRunner().invoke(app, ["vulndb", "import", str(advisories)], catch_exceptions=False)
    assert imported.exit_code == 0, imported.output
    before = len(sig["layers"])
    blocked = _ci(served, image, tmp_path)
    assert blocked.returncode == 1
    assert "production: block" in blocked.stdout and "not signed" in blocked.stderr
    after = json.loads(
        skopeo(
            registry_basic,
            "inspect",
            "--raw",
            f"docker://{registry_basic.host}/{REPO}:{signature_tag(digest)}",
        )
    )
    assert len(after["layers"]) == before
