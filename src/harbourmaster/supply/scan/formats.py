"""Output formats for a :class:`ScanResult`: JSON, SARIF 2.1.0, CycloneDX VEX, and rows for a table."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from harbourmaster import __version__
from harbourmaster.domain.findings import Finding, SuppressedBy
from harbourmaster.domain.severity import Severity
from harbourmaster.supply.scan.result import ScanResult

__all__ = ["OutputFormat", "render", "render_cyclonedx_vex", "render_json", "render_sarif", "table_rows"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    CYCLONEDX_VEX = "cyclonedx-vex"


def table_rows(result: ScanResult) -> list[tuple[str, ...]]:
    """One row per finding: id, aliases, package, installed, fixed in, severity, state, suppressed by,
    notes."""
    rows: list[tuple[str, ...]] = []
    for f in sorted(result.findings, key=lambda f: (f.suppressed, -f.severity.rank, f.package.name, f.id)):
        rows.append(
            (
                f.id,
                ", ".join(f.aliases),
                f.package.name,
                f.package.version,
                ", ".join(f.fixed_versions) or "no fix",
                f.severity.value,
                f.state.value,
                f.suppressed_by.value if f.suppressed_by else "",
                "; ".join(f.notes),
            )
        )
    return rows


def render_json(result: ScanResult) -> str:
    return json.dumps(result.as_dict(), indent=2)


def _level(severity: Severity) -> str:
    if severity >= Severity.HIGH:
        return "error"
    if severity is Severity.MEDIUM:
        return "warning"
    return "note"


def _message(f: Finding) -> str:
    fix = f"fixed in {', '.join(f.fixed_versions)}" if f.fixed_versions else "no fix available"
    aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
    return (
        f"{f.id}{aliases}: {f.package.name} {f.package.version} is affected; {fix}. "
        f"Severity {f.severity.value}."
    )


def render_sarif(result: ScanResult) -> str:
    """A SARIF 2.1.0 log: one rule per advisory, one result per finding; suppressed findings carry a
    ``suppressions`` entry (status ``accepted``) with the reason."""
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for f in result.findings:
        if f.id not in rule_index:
            rule_index[f.id] = len(rules)
            rules.append(
                {
                    "id": f.id,
                    "shortDescription": {"text": f.summary or f.id},
                    "fullDescription": {"text": f.summary or f"{f.id} ({', '.join(f.aliases)})"},
                    "defaultConfiguration": {"level": _level(f.severity)},
                    "properties": {
                        "tags": ["vulnerability", "security", f.severity.value.lower()],
                        "aliases": list(f.aliases),
                    },
                }
            )
        item: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": rule_index[f.id],
            "level": _level(f.severity),
            "message": {"text": _message(f)},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": f.package.purl}},
                    "logicalLocations": [
                        {"name": f.package.name, "fullyQualifiedName": f.package.purl, "kind": "package"}
                    ],
                }
            ],
            "partialFingerprints": {
                "harbourmaster/v1": hashlib.sha256(f"{f.id}\0{f.package.purl}".encode()).hexdigest()
            },
            "properties": {
                "severity": f.severity.value,
                "state": f.state.value,
                "fixed_versions": list(f.fixed_versions),
                "ecosystem": f.package.ecosystem,
                "notes": list(f.notes),
            },
        }
        if f.suppressed_by is not None:
            item["suppressions"] = [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": "; ".join(f.notes) or f.suppressed_by.value,
                    "properties": {"suppressed_by": f.suppressed_by.value},
                }
            ]
        results.append(item)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "harbourmaster",
                "version": __version__,
                "informationUri": "https://harbourmaster.invalid/",
                "rules": rules,
            }
        },
        "results": results,
        "properties": {
            "target": result.target,
            "image_digest": result.image_digest,
            "verdict": None if result.verdict is None else result.verdict.as_dict(),
        },
    }
    return json.dumps({"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2)


_SEVERITIES = {
    Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
    Severity.HIGH: VulnerabilitySeverity.HIGH,
    Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
    Severity.LOW: VulnerabilitySeverity.LOW,
    Severity.NEGLIGIBLE: VulnerabilitySeverity.INFO,
    Severity.NONE: VulnerabilitySeverity.NONE,
    Severity.UNKNOWN: VulnerabilitySeverity.UNKNOWN,
}
# OpenVEX justification → CycloneDX's closest one.
_JUSTIFICATIONS = {
    "component_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    "vulnerable_code_cannot_be_controlled_by_adversary": ImpactAnalysisJustification.REQUIRES_ENVIRONMENT,
    "inline_mitigations_already_exist": ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL,
}


def _analysis(f: Finding) -> VulnerabilityAnalysis:
    detail = "; ".join(f.notes) or None
    if f.suppressed_by is SuppressedBy.VEX:
        justification = next(
            (j for key, j in _JUSTIFICATIONS.items() if any(key in n for n in f.notes)), None
        )
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.NOT_AFFECTED, justification=justification, detail=detail
        )
    if f.suppressed_by is SuppressedBy.ALLOWLIST:
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.EXPLOITABLE,
            responses=[ImpactAnalysisResponse.WILL_NOT_FIX],
            detail=detail,
        )
    if f.suppressed_by is SuppressedBy.IGNORE_UNFIXED:
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.IN_TRIAGE, responses=[ImpactAnalysisResponse.CAN_NOT_FIX], detail=detail
        )
    responses = [ImpactAnalysisResponse.UPDATE] if f.fixed_versions else None
    return VulnerabilityAnalysis(state=ImpactAnalysisState.IN_TRIAGE, responses=responses, detail=detail)


def render_cyclonedx_vex(result: ScanResult) -> str:
    """A CycloneDX 1.6 VEX document: the affected packages as components, one vulnerability per advisory
    and package with its rating and analysis (``not_affected`` for VEX suppressions, ``exploitable`` +
    ``will_not_fix`` for allowlisted ones, ``in_triage`` otherwise)."""
    bom = Bom()
    bom.metadata.tools.components.add(
        Component(name="harbourmaster", version=__version__, type=ComponentType.APPLICATION)
    )
    root = Component(
        name=result.image_name or result.target,
        version=result.image_digest or None,
        type=ComponentType.CONTAINER,
        bom_ref=f"image:{result.image_digest or result.target}",
    )
    bom.metadata.component = root
    refs: dict[str, str] = {}
    members: list[Component] = []
    for f in result.findings:
        if f.package.purl in refs:
            continue
        ref = f"pkg-{len(refs)}:{hashlib.sha256(f.package.purl.encode()).hexdigest()[:12]}"
        refs[f.package.purl] = ref
        try:
            purl: PackageURL | None = PackageURL.from_string(f.package.purl)
        except ValueError:
            purl = None
        members.append(
            Component(
                name=f.package.name,
                version=f.package.version or None,
                type=ComponentType.LIBRARY,
                bom_ref=ref,
                purl=purl,
            )
        )
    bom.components.update(members)
    bom.dependencies.update(
        [
            Dependency(ref=root.bom_ref, dependencies=[Dependency(ref=c.bom_ref) for c in members]),
            *(Dependency(ref=c.bom_ref) for c in members),
        ]
    )
    source = VulnerabilitySource(name="OSV")
    for index, f in enumerate(result.findings):
        bom.vulnerabilities.add(
            Vulnerability(
                bom_ref=f"vuln-{index}:{f.id}",
                id=f.id,
                source=source,
                references=[
                    VulnerabilityReference(id=a, source=VulnerabilitySource(name="alias")) for a in f.aliases
                ],
                ratings=[VulnerabilityRating(severity=_SEVERITIES[f.severity])],
                description=f.summary or None,
                recommendation=(
                    f"upgrade {f.package.name} to {', '.join(f.fixed_versions)}" if f.fixed_versions else None
                ),
                analysis=_analysis(f),
                affects=[BomTarget(ref=refs[f.package.purl])],
                properties=[Property(name="harbourmaster:suppressed_by", value=f.suppressed_by.value)]
                if f.suppressed_by
                else None,
            )
        )
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


def render(result: ScanResult, fmt: OutputFormat) -> str:
    """The result as ``fmt`` text (``table`` is rendered by the CLI from :func:`table_rows`).

    Raises:
        ValueError: ``fmt`` is ``table``.
    """
    if fmt is OutputFormat.JSON:
        return render_json(result)
    if fmt is OutputFormat.SARIF:
        return render_sarif(result)
    if fmt is OutputFormat.CYCLONEDX_VEX:
        return render_cyclonedx_vex(result)
    raise ValueError("the table format is rendered by the CLI")
