"""Reports of other scanners read as findings: Trivy JSON (``SchemaVersion`` 2) and Grype JSON.

A site that already runs Trivy or Grype feeds their findings through the same
allowlist, VEX and tier thresholds as harbourmaster's own scans.  Fields read:

* Trivy: ``ArtifactName``, ``Metadata.RepoDigests``/``ImageID``, ``Results[].Type``, and per
  vulnerability ``VulnerabilityID``, ``PkgName``, ``PkgIdentifier.PURL``, ``InstalledVersion``,
  ``FixedVersion`` (comma-separated), ``Status``, ``Severity``, ``Title``.
* Grype: ``source.target`` (``userInput``, ``manifestDigest``, ``repoDigests``), and per match
  ``vulnerability`` (``id``, ``severity``, ``fix.versions``, ``fix.state``, ``description``),
  ``relatedVulnerabilities[].id`` (aliases) and ``artifact`` (``name``, ``version``, ``type``, ``purl``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from harbourmaster.domain.findings import Finding, FindingPackage, FixState
from harbourmaster.domain.severity import severity_from_label
from harbourmaster.errors import BadInput
from harbourmaster.supply.advisories import component_ecosystem

__all__ = ["ReportError", "ScannerReport", "parse_report"]

MAX_REPORT_BYTES = 256 * 1024 * 1024

_TRIVY_STATES = {
    "fixed": FixState.FIXED,
    "will_not_fix": FixState.WONT_FIX,
    "affected": FixState.NOT_FIXED,
    "fix_deferred": FixState.NOT_FIXED,
    "end_of_life": FixState.WONT_FIX,
}
_GRYPE_STATES = {"fixed": FixState.FIXED, "not-fixed": FixState.NOT_FIXED, "wont-fix": FixState.WONT_FIX}


class ReportError(BadInput):
    """A scanner report is malformed; the message names the report and the field."""

    kind = "scanner-report"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScannerReport:
    tool: str
    target: str
    image_digest: str
    findings: tuple[Finding, ...]


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _ecosystem(purl: str, fallback: str) -> str:
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return fallback
    quals = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
    distro = quals.get("distro")
    if parsed.type == "apk" and distro and not distro.startswith("alpine"):
        distro = f"alpine-{distro}"  # Trivy writes distro=3.19.1 for Alpine
    found = component_ecosystem(parsed.type, namespace=parsed.namespace, distro=distro)
    return found[0] if found else fallback


def _digest_from(repo_digests: Any) -> str:
    for item in repo_digests or []:
        if isinstance(item, str) and "@" in item:
            return item.split("@", 1)[1]
    return ""


def _string(value: Any, *, where: str, field: str, required: bool = True) -> str:
    if isinstance(value, str) and (value or not required):
        return value
    if value is None and not required:
        return ""
    raise ReportError(f"{where}: {field}: must be a {'non-empty ' if required else ''}string")


def _trivy(doc: Mapping[str, Any], where: str) -> ScannerReport:
    if doc.get("SchemaVersion") != 2:
        raise ReportError(
            f"{where}: SchemaVersion: {doc.get('SchemaVersion')!r} is not supported; "
            "only Trivy's SchemaVersion 2 is"
        )
    meta = _obj(doc.get("Metadata"))
    digest = _digest_from(meta.get("RepoDigests")) or str(meta.get("ImageID") or "")
    findings: list[Finding] = []
    results = doc.get("Results") or []
    if not isinstance(results, list):
        raise ReportError(f"{where}: Results: must be a list")
    for r_index, result in enumerate(results):
        if not isinstance(result, Mapping):
            raise ReportError(f"{where}: Results[{r_index}]: must be an object")
        vulns = result.get("Vulnerabilities") or []
        if not isinstance(vulns, list):
            raise ReportError(f"{where}: Results[{r_index}].Vulnerabilities: must be a list")
        for v_index, vuln in enumerate(vulns):
            field = f"Results[{r_index}].Vulnerabilities[{v_index}]"
            if not isinstance(vuln, Mapping):
                raise ReportError(f"{where}: {field}: must be an object")
            ident = _string(vuln.get("VulnerabilityID"), where=where, field=f"{field}.VulnerabilityID")
            name = _string(vuln.get("PkgName"), where=where, field=f"{field}.PkgName")
            version = _string(
                vuln.get("InstalledVersion"), where=where, field=f"{field}.InstalledVersion", required=False
            )
            identifier = _obj(vuln.get("PkgIdentifier"))
            purl = str(identifier.get("PURL") or "")
            fixed = tuple(v.strip() for v in str(vuln.get("FixedVersion") or "").split(",") if v.strip())
            status = str(vuln.get("Status") or "")
            state = _TRIVY_STATES.get(status, FixState.FIXED if fixed else FixState.UNKNOWN)
            findings.append(
                Finding(
                    id=ident,
                    aliases=(),
                    package=FindingPackage(
                        name=name,
                        version=version,
                        purl=purl or f"{name}@{version}",
                        ecosystem=_ecosystem(purl, str(result.get("Type") or "")),
                    ),
                    fixed_versions=fixed,
                    severity=severity_from_label(str(vuln.get("Severity") or "")).severity,
                    state=state,
                    summary=str(vuln.get("Title") or "")[:1000],
                )
            )
    return ScannerReport(
        tool="trivy",
        target=str(doc.get("ArtifactName") or where),
        image_digest=digest,
        findings=tuple(findings),
    )


def _grype(doc: Mapping[str, Any], where: str) -> ScannerReport:
    source = _obj(doc.get("source"))
    target = _obj(source.get("target"))
    digest = str(target.get("manifestDigest") or "") or _digest_from(target.get("repoDigests"))
    findings: list[Finding] = []
    matches = doc.get("matches")
    if not isinstance(matches, list):
        raise ReportError(f"{where}: matches: must be a list")
    for index, match in enumerate(matches):
        field = f"matches[{index}]"
        if not isinstance(match, Mapping):
            raise ReportError(f"{where}: {field}: must be an object")
        vuln, artifact = match.get("vulnerability"), match.get("artifact")
        if not isinstance(vuln, Mapping):
            raise ReportError(f"{where}: {field}.vulnerability: must be an object")
        if not isinstance(artifact, Mapping):
            raise ReportError(f"{where}: {field}.artifact: must be an object")
        ident = _string(vuln.get("id"), where=where, field=f"{field}.vulnerability.id")
        name = _string(artifact.get("name"), where=where, field=f"{field}.artifact.name")
        version = _string(
            artifact.get("version"), where=where, field=f"{field}.artifact.version", required=False
        )
        purl = str(artifact.get("purl") or "")
        fix = _obj(vuln.get("fix"))
        fixed = tuple(str(v) for v in fix.get("versions") or [] if str(v))
        aliases = tuple(
            dict.fromkeys(
                str(r.get("id"))
                for r in match.get("relatedVulnerabilities") or []
                if isinstance(r, Mapping) and r.get("id") and r.get("id") != ident
            )
        )
        findings.append(
            Finding(
                id=ident,
                aliases=aliases,
                package=FindingPackage(
                    name=name,
                    version=version,
                    purl=purl or f"{name}@{version}",
                    ecosystem=_ecosystem(purl, str(artifact.get("type") or "")),
                ),
                fixed_versions=fixed,
                severity=severity_from_label(str(vuln.get("severity") or "")).severity,
                state=_GRYPE_STATES.get(str(fix.get("state") or ""), FixState.UNKNOWN),
                summary=str(vuln.get("description") or "")[:1000],
            )
        )
    return ScannerReport(
        tool="grype",
        target=str(target.get("userInput") or where),
        image_digest=digest,
        findings=tuple(findings),
    )


def is_report(doc: Any) -> bool:
    """Whether a decoded JSON document looks like a Trivy or Grype report.  Never raises."""
    return isinstance(doc, Mapping) and ("SchemaVersion" in doc or ("matches" in doc and "descriptor" in doc))


def parse_report(text: str | bytes, *, where: str) -> ScannerReport:
    """Read a Trivy (``SchemaVersion`` 2) or Grype JSON report.

    Raises:
        ReportError: not JSON, neither format, an unsupported Trivy schema version, or a field of the
            wrong type; the message names ``where`` and the field.
    """
    if len(text) > MAX_REPORT_BYTES:
        raise ReportError(f"{where}: larger than {MAX_REPORT_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"{where}: not JSON ({exc})") from None
    if isinstance(doc, Mapping) and "SchemaVersion" in doc:
        return _trivy(doc, where)
    if isinstance(doc, Mapping) and "matches" in doc:
        return _grype(doc, where)
    raise ReportError(f"{where}: neither a Trivy JSON report (SchemaVersion 2) nor a Grype JSON report")
