"""Output formats: the JSON shape, SARIF 2.1.0 against the official schema, CycloneDX VEX against the
CycloneDX 1.6 schema (cyclonedx-python-lib's validator)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from harbourmaster.domain.findings import Finding, FindingPackage, FixState, SuppressedBy, evaluate
from harbourmaster.domain.model import Tier
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES
from harbourmaster.supply.scan import (
    OutputFormat,
    ScanResult,
    render,
    render_cyclonedx_vex,
    render_json,
    render_sarif,
    table_rows,
)

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def _finding(ident: str, severity: Severity, purl: str, *, fixed: tuple[str, ...] = ("1.2.4",)) -> Finding:
    name = purl.split("/")[-1].split("@")[0]
    return Finding(
        id=ident,
        aliases=(f"CVE-{ident[-4:]}",),
        summary=f"{ident} summary",
        package=FindingPackage(name=name, version="1.2.3", purl=purl, ecosystem="npm"),
        fixed_versions=fixed,
        severity=severity,
        state=FixState.FIXED if fixed else FixState.NOT_FIXED,
    )


@pytest.fixture
def result() -> ScanResult:
    findings = [
        _finding("GHSA-0001", Severity.CRITICAL, "pkg:npm/a@1.2.3"),
        _finding("GHSA-0002", Severity.HIGH, "pkg:npm/b@1.2.3", fixed=()),
        _finding("GHSA-0003", Severity.MEDIUM, "pkg:npm/a@1.2.3").suppress(
            SuppressedBy.VEX, "VEX v.json: not_affected (vulnerable_code_not_in_execute_path)"
        ),
        _finding("GHSA-0004", Severity.LOW, "pkg:npm/%40scope/c@1.2.3").suppress(
            SuppressedBy.ALLOWLIST, "allowlist entry for CVE-0004 (system-wide, expires 2027-01-01): ok"
        ),
        _finding("GHSA-0005", Severity.UNKNOWN, "pkg:npm/d@1.2.3", fixed=()).suppress(
            SuppressedBy.IGNORE_UNFIXED
        ),
    ]
    marked, verdict = evaluate(
        findings,
        policy=DEFAULT_TIER_POLICIES[Tier.PRODUCTION],
        allowlist=(),
        registry=None,
        today=dt.date(2026, 1, 1),
    )
    return ScanResult(
        target="sbom.json",
        image_name="registry.example/team/app",
        image_digest="sha256:" + "a" * 64,
        findings=marked,
        components=10,
        environment="prod",
        verdict=verdict,
    )


def test_json_has_the_documented_shape(result: ScanResult) -> None:
    data = json.loads(render_json(result))
    assert data["target"] == "sbom.json"
    assert data["verdict"]["verdict"] == "block"
    assert data["verdict"]["tier"] == "production"
    first = data["findings"][0]
    assert {"id", "aliases", "package", "fixed_versions", "severity", "state", "suppressed_by"} <= set(first)
    assert set(first["package"]) == {"name", "version", "purl", "ecosystem"}
    assert [f["suppressed_by"] for f in data["findings"]] == [
        None,
        None,
        "vex",
        "allowlist",
        "ignore-unfixed",
    ]
    assert data["summary"]["suppressed"] == 3
    assert data["summary"]["by_severity"] == {"Critical": 1, "High": 1}


def test_sarif_validates_against_the_official_schema(result: ScanResult) -> None:
    log = json.loads(render_sarif(result))
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA, format_checker=jsonschema.FormatChecker())
    errors = list(validator.iter_errors(log))
    assert errors == [], [e.message for e in errors[:5]]
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [f"GHSA-000{i}" for i in range(1, 6)]
    levels = [r["level"] for r in run["results"]]
    assert levels == ["error", "error", "warning", "note", "note"]
    suppressed = [r for r in run["results"] if "suppressions" in r]
    assert [s["suppressions"][0]["properties"]["suppressed_by"] for s in suppressed] == [
        "vex",
        "allowlist",
        "ignore-unfixed",
    ]
    assert (
        run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pkg:npm/a@1.2.3"
    )


def test_the_schema_check_is_real() -> None:
    validator = jsonschema.Draft4Validator(SARIF_SCHEMA)
    assert list(validator.iter_errors({"version": "2.1.0", "runs": [{"tool": {"driver": {}}}]}))
    assert list(validator.iter_errors({"version": "2.0.0", "runs": []}))


def test_cyclonedx_vex_validates_and_carries_the_analysis(result: ScanResult) -> None:
    document = render_cyclonedx_vex(result)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    data = json.loads(document)
    vulns = {v["id"]: v for v in data["vulnerabilities"]}
    assert vulns["GHSA-0003"]["analysis"]["state"] == "not_affected"
    assert vulns["GHSA-0003"]["analysis"]["justification"] == "code_not_reachable"
    assert vulns["GHSA-0004"]["analysis"]["state"] == "exploitable"
    assert vulns["GHSA-0004"]["analysis"]["response"] == ["will_not_fix"]
    assert vulns["GHSA-0001"]["analysis"]["state"] == "in_triage"
    assert vulns["GHSA-0001"]["ratings"][0]["severity"] == "critical"
    refs = {c["bom-ref"]: c["purl"] for c in data["components"]}
    assert refs[vulns["GHSA-0001"]["affects"][0]["ref"]] == "pkg:npm/a@1.2.3"
    assert data["metadata"]["component"]["name"] == "registry.example/team/app"


def test_table_rows_and_render_dispatch(result: ScanResult) -> None:
    rows = table_rows(result)
    assert rows[0][0] == "GHSA-0001"
    assert rows[1][4] == "no fix"
    assert rows[-1][7] in {"vex", "allowlist", "ignore-unfixed"}
    assert render(result, OutputFormat.JSON) == render_json(result)
    with pytest.raises(ValueError, match="table"):
        render(result, OutputFormat.TABLE)


def test_exit_codes_follow_fail_on_and_the_verdict(result: ScanResult) -> None:
    assert result.exit_code(Severity.CRITICAL) == 1
    lenient = ScanResult(
        target="t", image_name="i", image_digest="", findings=result.findings[2:], components=1
    )
    assert lenient.exit_code(Severity.LOW) == 0  # every remaining finding is suppressed
    assert lenient.exit_code(None) == 0
    assert result.exit_code(None) == 1  # production blocks
