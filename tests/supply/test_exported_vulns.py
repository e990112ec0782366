"""The public names of the advisory and scan layers are deliberate: pinned here."""

from __future__ import annotations

import harbourmaster.domain.findings as findings
import harbourmaster.supply.advisories as advisories
import harbourmaster.supply.scan as scan


def test_advisories_exports() -> None:
    assert set(advisories.__all__) == {
        "Advisory",
        "AdvisoryError",
        "AdvisoryIndex",
        "AdvisorySource",
        "AffectedPackage",
        "CompiledAdvisory",
        "InvalidAdvisory",
        "MemoryAdvisoryIndex",
        "OsvDirectory",
        "OsvFile",
        "OsvRecords",
        "OsvZip",
        "PackageKey",
        "RawRecord",
        "component_ecosystem",
        "component_package_name",
        "ecosystem_base",
        "ecosystem_key",
        "is_supported",
        "open_osv",
        "package_name",
        "parse_osv",
    }
    assert all(hasattr(advisories, name) for name in advisories.__all__)


def test_scan_exports() -> None:
    assert set(scan.__all__) == {
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
    }
    assert all(hasattr(scan, name) for name in scan.__all__)


def test_findings_exports() -> None:
    assert set(findings.__all__) == {
        "Finding",
        "FindingPackage",
        "FixState",
        "SuppressedBy",
        "TierVerdict",
        "Verdict",
        "apply_allowlist",
        "apply_ignore_unfixed",
        "evaluate",
        "fails_on",
        "threshold_level",
        "tier_verdict",
    }
