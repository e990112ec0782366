"""Trivy (SchemaVersion 2) and Grype JSON reports as findings, judged by the same tier rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from harbourmaster.domain.findings import FixState, SuppressedBy, Verdict
from harbourmaster.domain.model import AllowlistEntry, Tier
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES
from harbourmaster.supply.scan import Judgement, ReportError, evaluate_report, is_report, parse_report

DATA = Path(__file__).parent / "data"


def test_a_trivy_report_becomes_findings() -> None:
    report = parse_report((DATA / "trivy-debian.json").read_bytes(), where="trivy.json")
    assert report.tool == "trivy"
    assert report.target == "registry.example/team/app:1.4"
    assert report.image_digest == "sha256:9b2c1d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c"
    by_id = {f.id: f for f in report.findings}
    assert set(by_id) == {"CVE-2023-4911", "CVE-2011-3374", "CVE-2023-45853", "CVE-2024-35195"}
    glibc = by_id["CVE-2023-4911"]
    assert (glibc.severity, glibc.state, glibc.fixed_versions) == (
        Severity.HIGH,
        FixState.FIXED,
        ("2.36-9+deb12u3",),
    )
    assert glibc.package.ecosystem == "Debian:12"
    assert glibc.package.version == "2.36-9+deb12u1"
    assert by_id["CVE-2011-3374"].state is FixState.NOT_FIXED
    assert by_id["CVE-2023-45853"].state is FixState.WONT_FIX
    assert by_id["CVE-2024-35195"].package.ecosystem == "PyPI"


def test_a_grype_report_becomes_findings_with_aliases() -> None:
    report = parse_report((DATA / "grype-alpine.json").read_text(), where="grype.json")
    assert report.tool == "grype"
    assert report.image_digest == "sha256:13b7e62e8df80264dbb747995705a986aa530415763a6c58f84a3ca8af9a5bcd"
    by_id = {f.id: f for f in report.findings}
    assert by_id["CVE-2024-0727"].package.ecosystem == "Alpine:v3.19"
    assert by_id["CVE-2024-0727"].aliases == ()
    assert by_id["CVE-2024-0727"].severity is Severity.MEDIUM
    assert by_id["GHSA-jfhm-5ghh-2f97"].aliases == ("CVE-2018-1000620",)
    assert by_id["GHSA-jfhm-5ghh-2f97"].state is FixState.NOT_FIXED


def test_report_findings_meet_the_same_thresholds_and_allowlist() -> None:
    report = parse_report((DATA / "trivy-debian.json").read_bytes(), where="trivy.json")
    allow = AllowlistEntry(advisory="CVE-2023-45853", expires=dt.date(2027, 1, 1), reason="minizip unused")
    judgement = Judgement(
        environment="prod-eu",
        policy=DEFAULT_TIER_POLICIES[Tier.PRODUCTION],
        allowlist=(allow,),
        today=dt.date(2026, 1, 1),
    )
    result = evaluate_report(report, judgement=judgement)
    assert result.verdict is not None and result.verdict.verdict is Verdict.BLOCK
    assert [b.split(" ")[0] for b in result.verdict.blocking] == ["CVE-2023-4911"]
    zlib = next(f for f in result.findings if f.id == "CVE-2023-45853")
    assert zlib.suppressed_by is SuppressedBy.ALLOWLIST
    dev = evaluate_report(
        report,
        judgement=Judgement(
            policy=DEFAULT_TIER_POLICIES[Tier.DEVELOPMENT], allowlist=(allow,), today=dt.date(2026, 1, 1)
        ),
    )
    assert dev.verdict is not None and dev.verdict.verdict is Verdict.ALLOW_WITH_ADVISORY
    assert result.source == "trivy"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "r.json: not JSON"),
        (json.dumps({"SchemaVersion": 1, "Results": []}), "SchemaVersion: 1 is not supported"),
        (
            json.dumps({"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"PkgName": "x"}]}]}),
            "Results[0].Vulnerabilities[0].VulnerabilityID: must be a non-empty string",
        ),
        (json.dumps({"matches": [{"vulnerability": {"id": "C"}}]}), "matches[0].artifact: must be an object"),
        (json.dumps({"bomFormat": "CycloneDX"}), "neither a Trivy JSON report"),
    ],
)
def test_malformed_reports_are_refused_naming_the_field(document: str, message: str) -> None:
    with pytest.raises(ReportError) as info:
        parse_report(document, where="r.json")
    assert message in info.value.message


def test_is_report_tells_reports_from_sboms() -> None:
    assert is_report(json.loads((DATA / "trivy-debian.json").read_text()))
    assert is_report(json.loads((DATA / "grype-alpine.json").read_text()))
    assert not is_report({"bomFormat": "CycloneDX", "components": []})
    assert not is_report([1, 2])
