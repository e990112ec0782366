"""End to end: an image with this machine's real dpkg database (built with umoci, pushed with skopeo to
the real CNCF registry), a hand-made OSV advisory set whose expected findings come from dpkg-query and
dpkg --compare-versions (the oracles), and the verdict of each tier through the CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from tests.components import ensure_binary
from tests.integration.registry_fixtures import PASSWORD, skopeo
from tests.supply._tools import Umoci

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

REPO = "hmscan/app"
SOURCE = "util-linux"  # many binaries, some (bsdutils) with an epoch their source version lacks


@dataclass(frozen=True)
class Installed:
    name: str
    version: str
    source: str
    source_version: str


def _dpkg_query() -> list[Installed]:
    """The oracle for what is installed: dpkg-query over the same status file the image carries."""
    out = subprocess.run(
        [
            "dpkg-query",
            "--admindir=/var/lib/dpkg",
            "-W",
            "-f=${db:Status-Abbrev}\t${Package}\t${Version}\t${source:Package}\t${source:Version}\n",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        status, name, version, source, source_version = line.split("\t")
        if status.strip() in ("ii", "hi"):
            rows.append(Installed(name, version, source or name, source_version or version))
    return rows


def _dpkg_lt(a: str, b: str) -> bool:
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def _record(ident: str, ecosystem: str, name: str, **fields: Any) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    for key in ("ranges", "versions"):
        if key in fields:
            affected[key] = fields.pop(key)
    return {"id": ident, "modified": "2026-01-10T00:00:00Z", "affected": [affected], **fields}


@dataclass
class Lab:
    run: Callable[..., Result]
    layout: str
    image: str
    expected: set[tuple[str, str]]
    installed: dict[str, Installed]


@pytest.fixture(scope="module")
def image_layout(tmp_path_factory: pytest.TempPathFactory) -> str:
    ensure_binary("dpkg-query", "dpkg")
    root = tmp_path_factory.mktemp("scan-image")
    umoci = Umoci(root)
    fs = umoci.rootfs
    (fs / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", fs / "var/lib/dpkg/status")
    (fs / "etc").mkdir(exist_ok=True)
    shutil.copy("/etc/os-release", fs / "etc/os-release")
    umoci.repack()
    return f"oci-layout:{umoci.layout}:v1"


GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab-scan
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_SCAN_LAB_SECRET}}
    tls: {{insecure: true}}
environments:
  - {{name: dev, kind: docker-standalone, tier: development}}
  - {{name: stage, kind: swarm, tier: staging}}
  - {{name: prod, kind: swarm, tier: production}}
tiers:
  staging: {{block_severity: high, advisory_severity: medium, ignore_unfixed: true}}
"""


@pytest.fixture
def lab(
    image_layout: str, registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Lab]:
    monkeypatch.setenv("HM_SCAN_LAB_SECRET", PASSWORD)
    installed = {i.name: i for i in _dpkg_query()}
    binaries = [i for i in installed.values() if i.source == SOURCE]
    assert len(binaries) >= 3, "util-linux has several binaries on Debian 12"
    source_version = binaries[0].source_version
    fix = source_version + "+hm1"
    assert _dpkg_lt(source_version, fix)
    bash, dpkg_pkg, coreutils = installed["bash"], installed["dpkg"], installed["coreutils"]
    assert not _dpkg_lt(bash.version, "0.1")
    advisories = [
        # affects every util-linux binary, compared at the source version (bsdutils' own has an epoch)
        _record(
            "DSA-HM-1",
            "Debian:12",
            SOURCE,
            aliases=["CVE-2099-0001"],
            ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fix}]}],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
        ),
        _record(
            "DSA-HM-11",
            "Debian:11",
            SOURCE,
            ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fix}]}],
        ),
        _record(
            "USN-HM-1",
            "Ubuntu:22.04:LTS",
            "bash",
            ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
        ),
        _record(
            "DSA-HM-OLD",
            "Debian:12",
            "bash",
            ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "0.1"}]}],
        ),
        _record(
            "DEBIAN-HM-GONE",
            "Debian:12",
            "bash",
            withdrawn="2026-01-09T00:00:00Z",
            ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
        ),
        _record(
            "DSA-HM-LAST",
            "Debian:12",
            "dpkg",
            aliases=["CVE-2099-0002"],
            ranges=[
                {
                    "type": "ECOSYSTEM",
                    "events": [{"introduced": "0"}, {"last_affected": dpkg_pkg.source_version}],
                }
            ],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        ),
        _record(
            "DEBIAN-HM-LIST",
            "Debian:12",
            "coreutils",
            versions=[coreutils.source_version],
            database_specific={"severity": "moderate"},
        ),
    ]
    osv = tmp_path / "osv"
    osv.mkdir()
    for rec in advisories:
        (osv / f"{rec['id']}.json").write_text(json.dumps(rec))
    doc = tmp_path / "governance.yaml"
    doc.write_text(GOVERNANCE.format(host=registry_basic.host, user=registry_basic.username))
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("init").exit_code == 0
    assert run("apply", "-f", str(doc)).exit_code == 0
    imported = run("vulndb", "import", str(osv), "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout)["inserted"] == len(advisories)
    # each source's binaries, per the oracle: every one matches at its source version
    expected = (
        {("DSA-HM-1", b.name) for b in binaries}
        | {("DSA-HM-LAST", i.name) for i in installed.values() if i.source == "dpkg"}
        | {
            ("DEBIAN-HM-LIST", i.name)
            for i in installed.values()
            if i.source == "coreutils" and i.source_version == coreutils.source_version
        }
    )
    yield Lab(run, image_layout, f"{registry_basic.host}/{REPO}", expected, installed)
    for text in outputs:
        assert PASSWORD not in text


def _scan(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    result = lab.run("scan", *args, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def test_findings_match_the_oracles(lab: Lab) -> None:
    code, data = _scan(lab, lab.layout)
    assert code == 0  # no --env, no --fail-on
    got = {(f["id"], f["package"]["name"]) for f in data["findings"]}
    assert got == lab.expected
    bsd = next(f for f in data["findings"] if f["package"]["name"] == "bsdutils")
    assert bsd["package"]["version"] == lab.installed["bsdutils"].version  # with its epoch
    assert bsd["package"]["ecosystem"] == "Debian:12"
    assert bsd["severity"] == "High"
    assert bsd["aliases"] == ["CVE-2099-0001"]
    assert bsd["state"] == "fixed"
    last = next(f for f in data["findings"] if f["id"] == "DSA-HM-LAST")
    assert (last["severity"], last["state"], last["fixed_versions"]) == ("Critical", "not-fixed", [])
    listed = next(f for f in data["findings"] if f["id"] == "DEBIAN-HM-LIST")
    assert listed["severity"] == "Medium"


def test_the_verdict_of_each_tier_and_fail_on(lab: Lab, tmp_path: Path) -> None:
    verdicts = {env: _scan(lab, lab.layout, "--env", env) for env in ("dev", "stage", "prod")}
    assert {env: (code, data["verdict"]["verdict"]) for env, (code, data) in verdicts.items()} == {
        "dev": (1, "block"),  # development blocks critical: DSA-HM-LAST
        "stage": (1, "block"),  # staging ignores unfixed findings but DSA-HM-1 (high) has a fix
        "prod": (1, "block"),
    }
    stage = verdicts["stage"][1]
    by_id = {f["id"]: f["suppressed_by"] for f in stage["findings"]}
    assert by_id["DSA-HM-LAST"] == "ignore-unfixed"
    assert by_id["DEBIAN-HM-LIST"] == "ignore-unfixed"
    assert by_id["DSA-HM-1"] is None
    dpkg_binaries = {e for e in lab.expected if e[0] == "DSA-HM-LAST"}
    assert ("DSA-HM-LAST", "dpkg") in dpkg_binaries
    vex = tmp_path / "dpkg.vex.json"
    vex.write_text(
        json.dumps(
            {
                "@context": "https://openvex.dev/ns/v0.2.0",
                "statements": [
                    {
                        "vulnerability": {"name": "CVE-2099-0002"},
                        "products": [{"@id": f"pkg:deb/debian/{name}"} for _, name in sorted(dpkg_binaries)],
                        "status": "not_affected",
                        "justification": "vulnerable_code_not_in_execute_path",
                    },
                    {
                        "vulnerability": {"name": "CVE-2099-0001"},
                        "products": [{"@id": "pkg:deb/debian/bsdutils"}],
                        "status": "not_affected",
                        "justification": "component_not_present",
                    },
                ],
            }
        )
    )
    code, dev = _scan(lab, lab.layout, "--env", "dev", "--vex", str(vex))
    assert (code, dev["verdict"]["verdict"]) == (0, "allow-with-advisory")  # high and medium remain
    suppressed = {(f["id"], f["package"]["name"]) for f in dev["findings"] if f["suppressed_by"] == "vex"}
    assert suppressed == dpkg_binaries | {("DSA-HM-1", "bsdutils")}
    assert len(dev["findings"]) == len(lab.expected)  # suppressed, never dropped
    assert lab.run("scan", lab.layout, "--vex", str(vex), "--fail-on", "high").exit_code == 1
    assert lab.run("scan", lab.layout, "--vex", str(vex), "--fail-on", "critical").exit_code == 0
    bad = lab.run("scan", lab.layout, "--fail-on", "severe")
    assert bad.exit_code == 2
    assert "unknown severity 'severe'" in bad.stderr


def test_sbom_file_archive_and_registry_image_give_the_same_findings(
    lab: Lab, registry_basic: RunningRegistry, tmp_path: Path
) -> None:
    sbom = tmp_path / "image.spdx.json"
    generated = lab.run("sbom", "generate", lab.layout, "--format", "spdx-json", "-o", str(sbom))
    assert generated.exit_code == 0, generated.output
    _, from_file = _scan(lab, str(sbom))
    assert {(f["id"], f["package"]["name"]) for f in from_file["findings"]} == lab.expected
    layout = lab.layout.removeprefix("oci-layout:")
    archive = tmp_path / "image.tar"
    skopeo(None, "copy", f"oci:{layout}", f"docker-archive:{archive}:hmscan/app:v1")
    _, from_archive = _scan(lab, f"docker-archive:{archive}")
    assert {(f["id"], f["package"]["name"]) for f in from_archive["findings"]} == lab.expected
    skopeo(registry_basic, "copy", f"oci:{layout}", f"docker://{lab.image}:v1")
    digest = skopeo(registry_basic, "inspect", "--format", "{{.Digest}}", f"docker://{lab.image}:v1").strip()
    code, by_tag = _scan(lab, f"{lab.image}:v1", "--env", "prod")
    assert {(f["id"], f["package"]["name"]) for f in by_tag["findings"]} == lab.expected
    assert (code, by_tag["verdict"]["verdict"]) == (1, "block")
    assert by_tag["image"]["registry"] == "lab-scan"
    assert by_tag["image"]["digest"] == digest
    # by digest, the SBOM stored by the first scan is used
    _, by_digest = _scan(lab, f"{lab.image}@{digest}")
    assert {(f["id"], f["package"]["name"]) for f in by_digest["findings"]} == lab.expected
    sarif = lab.run("scan", f"{lab.image}@{digest}", "--format", "sarif")
    assert json.loads(sarif.stdout)["runs"][0]["results"]
