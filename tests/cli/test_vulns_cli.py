"""The CLI of the advisory database and scanning: output, exit codes, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harbourmaster.supply.sbom import SbomFormat, render_sbom
from tests.services.test_sboms import sample
from tests.supply.advisories._osv import CVSS_CRITICAL, CVSS_MEDIUM, fixed_at, record, write_dir, write_zip

DATA = Path(__file__).resolve().parents[1] / "supply" / "scan" / "data"

RECORDS = [
    record(
        "DSA-9001-1",
        "Debian:12",
        "openssl",
        events=fixed_at("3.0.11-1~deb12u3"),
        aliases=["CVE-2099-1"],
        cvss=CVSS_CRITICAL,
    ),
    record("GHSA-cli", "PyPI", "requests", events=fixed_at("2.32.0"), cvss=CVSS_MEDIUM),
]


@pytest.fixture(autouse=True)
def _wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # tables wide enough that ids are not folded


def _sbom(tmp_path: Path) -> Path:
    path = tmp_path / "api.cdx.json"
    path.write_text(render_sbom(sample(), SbomFormat.CYCLONEDX_JSON))
    return path


def test_import_status_and_scan(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    imported = cli("vulndb", "import", str(write_dir(tmp_path / "osv", RECORDS)))
    assert imported.exit_code == 0, imported.output
    assert "2 records, 2 new, 0 updated, 0 unchanged, 0 withdrawn, 0 skipped" in imported.stdout
    status = cli("vulndb", "status", "--json")
    data = json.loads(status.stdout)
    assert data["per_ecosystem"] == {"Debian:12": 1, "PyPI": 1}
    assert data["imports"] == 1
    table = cli("vulndb", "status")
    assert "Debian:12" in table.stdout and "advisories: 2 (0 withdrawn)" in table.stdout
    sbom = _sbom(tmp_path)
    scanned = cli("scan", str(sbom))
    assert scanned.exit_code == 0, scanned.output
    assert "DSA-9001-1" in scanned.stdout and "GHSA-cli" in scanned.stdout
    assert "3.0.11-1~deb12u3" in scanned.stdout
    blocked = cli("scan", str(sbom), "--env", "prod-eu")
    assert blocked.exit_code == 1
    assert "prod-eu (production): block" in blocked.stdout
    failing = cli("scan", str(sbom), "--fail-on", "critical", "--format", "json")
    assert failing.exit_code == 1
    assert json.loads(failing.stdout)["findings"][0]["id"] in {"DSA-9001-1", "GHSA-cli"}
    assert (
        cli("scan", str(sbom), "--fail-on", "critical", "--image", "harbor.corp/payments/api:1").exit_code
        == 1
    )
    vex = cli("scan", str(sbom), "--format", "cyclonedx-vex")
    assert vex.exit_code == 0 and json.loads(vex.stdout)["vulnerabilities"]


def test_reimport_is_incremental_and_affected_lists_new_images(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.sboms import store_sbom

    store_sbom(Harbourmaster.from_environ(), sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    first = cli("vulndb", "import", str(write_dir(tmp_path / "osv", RECORDS)), "--json")
    assert [n["image_name"] for n in json.loads(first.stdout)["newly_affected"]] == [
        "harbor.corp/payments/api:1"
    ]
    again = json.loads(cli("vulndb", "import", str(tmp_path / "osv"), "--json").stdout)
    assert (again["inserted"], again["unchanged"], again["newly_affected"]) == (0, 2, [])
    listed = cli("vulns", "affected", "--since", "1h", "--json")
    assert [i["image_name"] for i in json.loads(listed.stdout)] == ["harbor.corp/payments/api:1"]
    assert "harbor.corp/payments/api:1" in cli("vulns", "affected").stdout
    bad = cli("vulns", "affected", "--since", "last tuesday")
    assert bad.exit_code == 2 and "--since: 'last tuesday'" in bad.stderr


def test_bad_input_exits_2_with_a_clear_message(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = cli("vulndb", "import", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    junk = tmp_path / "all.zip"
    junk.write_bytes(b"PK\x03\x04 this is not really a zip")
    refused = cli("vulndb", "import", str(junk))
    assert refused.exit_code == 2 and "neither a zip archive nor a .json record" in refused.stderr
    mixed = write_zip(tmp_path / "mixed.zip", RECORDS, junk={"broken.json": b"{", "x.txt": b"x"})
    partial = cli("vulndb", "import", str(mixed))
    assert partial.exit_code == 0
    assert "2 skipped" in partial.stdout and "broken.json: not valid JSON" in partial.stdout
    strict = cli("vulndb", "import", str(mixed), "--strict")
    assert strict.exit_code == 2 and "nothing was written" in strict.stderr
    unknown = write_dir(
        tmp_path / "nuget", [record("NUGET-1", "NuGet", "Newtonsoft.Json", events=fixed_at("13.0.1"))]
    )
    reported = cli("vulndb", "import", str(unknown))
    assert "ecosystem 'NuGet', which is not supported" in reported.stdout
    no_env = cli("scan", str(_sbom(tmp_path)), "--env", "atlantis")
    assert no_env.exit_code == 2 and "no environment named 'atlantis'" in no_env.stderr
    bad_vex = tmp_path / "bad.vex.json"
    bad_vex.write_text(
        '{"statements": [{"vulnerability": {"name": "X"}, "products": ["p"], "status": "nope"}]}'
    )
    vexed = cli("scan", str(_sbom(tmp_path)), "--vex", str(bad_vex))
    assert vexed.exit_code == 2 and "statements[0].status" in vexed.stderr


def test_scanner_reports_are_judged_too(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    report = tmp_path / "trivy.json"
    shutil.copy(DATA / "trivy-debian.json", report)
    judged = cli("scan", str(report), "--env", "dev-docker", "--format", "json")
    data = json.loads(judged.stdout)
    assert data["source"] == "trivy"
    assert data["verdict"]["verdict"] == "block"  # CVE-2023-45853 is critical
    assert judged.exit_code == 1
    sarif = cli("scan", str(DATA / "grype-alpine.json"), "--format", "sarif")
    assert sarif.exit_code == 0
    assert {r["ruleId"] for r in json.loads(sarif.stdout)["runs"][0]["results"]} == {
        "CVE-2024-0727",
        "GHSA-jfhm-5ghh-2f97",
    }
