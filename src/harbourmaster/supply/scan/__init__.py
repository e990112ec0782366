"""Vulnerability scanning: match SBOM components against the advisory database, suppress what VEX
statements and the allowlist cover, judge by the tier, and write table/JSON/SARIF/CycloneDX VEX."""

from __future__ import annotations

from harbourmaster.domain.findings import (
    Finding,
    FindingPackage,
    FixState,
    SuppressedBy,
    TierVerdict,
    Verdict,
)
from harbourmaster.supply.scan.components import (
    Component,
    ComponentError,
    SbomDocument,
    components_from_document,
    components_from_rows,
    components_from_sbom,
)
from harbourmaster.supply.scan.formats import (
    OutputFormat,
    render,
    render_cyclonedx_vex,
    render_json,
    render_sarif,
    table_rows,
)
from harbourmaster.supply.scan.matcher import Matcher, MatchResult, relevant_fixes
from harbourmaster.supply.scan.reports import ReportError, ScannerReport, is_report, parse_report
from harbourmaster.supply.scan.result import EXIT_FAIL, EXIT_OK, ScanResult
from harbourmaster.supply.scan.scanner import Judgement, Scanner, evaluate_report
from harbourmaster.supply.scan.vex import VexError, VexStatement, apply_vex, parse_openvex

__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "Component",
    "ComponentError",
    "Finding",
    "FindingPackage",
    "FixState",
    "Judgement",
    "MatchResult",
    "Matcher",
    "OutputFormat",
    "ReportError",
    "SbomDocument",
    "ScanResult",
    "Scanner",
    "ScannerReport",
    "SuppressedBy",
    "TierVerdict",
    "Verdict",
    "VexError",
    "VexStatement",
    "apply_vex",
    "components_from_document",
    "components_from_rows",
    "components_from_sbom",
    "evaluate_report",
    "is_report",
    "parse_openvex",
    "parse_report",
    "relevant_fixes",
    "render",
    "render_cyclonedx_vex",
    "render_json",
    "render_sarif",
    "table_rows",
]
