"""What the SBOM and vulnerability services return: the API's ``response_model`` and the CLI's ``--json``.

Like :mod:`harbourmaster.services.results`, each model is built once from the
service's value (``model_validate(value, from_attributes=True)``, or
``XPublic.of(...)`` where a conversion is needed) and returned by the service.
Times are ISO 8601 as the services recorded them (offset kept).

A field declared with ``exclude=True`` is for the CLI's human output and exit
code only: it is in neither the JSON nor the API's schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from harbourmaster.errors import Error
from harbourmaster.supply.scan import EXIT_OK, OutputFormat, ScanResult, render, table_rows

if TYPE_CHECKING:  # services import this module: no cycle at run time
    from harbourmaster.domain.severity import Severity
    from harbourmaster.services.advisories import ImportReport
    from harbourmaster.services.sbom_ops import SbomOutcome
    from harbourmaster.services.vulns import VulnImport
    from harbourmaster.store.values import StoredSbom, VulnDbStatus
    from harbourmaster.supply.sbom import Sbom, SbomFormat

__all__ = [
    "AffectedImagePublic",
    "AffectedRepositoryPublic",
    "DistroPublic",
    "FindingPackagePublic",
    "FindingPublic",
    "ImportReportPublic",
    "LocalImagePublic",
    "LocalSbomPublic",
    "NewlyAffectedPublic",
    "SbomArtifactPublic",
    "SbomOutcomePublic",
    "ScanResultPublic",
    "ScanSummaryPublic",
    "ScannedImagePublic",
    "StoredSbomPublic",
    "TierVerdictPublic",
    "VulnDbStatusPublic",
    "VulnImportPublic",
]


class StoredSbomPublic(BaseModel):
    id: int
    image_digest: str
    image_name: str
    platform: str
    format: str
    distro: str | None
    origin: str
    component_count: int
    created_at: str

    @classmethod
    def of(cls, stored: StoredSbom) -> StoredSbomPublic:
        return cls(
            id=stored.id,
            image_digest=stored.image_digest,
            image_name=stored.image_name,
            platform=stored.platform,
            format=stored.format,
            distro=stored.distro,
            origin=stored.origin,
            component_count=stored.component_count,
            created_at=stored.created_at.isoformat(),
        )


class SbomArtifactPublic(BaseModel):
    repository: str
    digest: str
    document_digest: str
    subject: str
    artifact_type: str
    via: str
    #: Not in the JSON: the ``sha256-<hex>`` tag an attach used where the registry lacks the referrers API.
    referrers_tag: str | None = Field(default=None, exclude=True)


class SbomOutcomePublic(BaseModel):
    operation: str
    image: str
    registry: str
    digest: str
    format: str
    generated: bool
    relabelled_from: str | None = None
    packages: int | None
    warnings: list[str]
    stored: StoredSbomPublic
    artifact: SbomArtifactPublic | None
    #: The SBOM document itself (generate and fetch; the CLI writes it out instead of printing it).
    document: str | None = None

    @classmethod
    def of(cls, outcome: SbomOutcome, *, with_document: bool) -> SbomOutcomePublic:
        ref = outcome.attached or outcome.fetched
        return cls(
            operation=outcome.operation,
            image=outcome.image,
            registry=outcome.registry,
            digest=outcome.digest,
            format=outcome.format.value,
            generated=outcome.generated,
            relabelled_from=outcome.relabelled_from,
            packages=outcome.packages,
            warnings=list(outcome.warnings),
            stored=StoredSbomPublic.of(outcome.stored),
            artifact=None
            if ref is None
            else SbomArtifactPublic(
                repository=ref.repository,
                digest=ref.artifact_digest,
                document_digest=ref.document_digest,
                subject=ref.subject_digest,
                artifact_type=outcome.format.media_type,
                via=ref.via,
                referrers_tag=None if outcome.attached is None else outcome.attached.referrers_tag,
            ),
            document=outcome.document if with_document else None,
        )


class LocalImagePublic(BaseModel):
    name: str
    digest: str
    platform: str
    layers: list[str]


class DistroPublic(BaseModel):
    id: str
    version_id: str
    version_codename: str


class LocalSbomPublic(BaseModel):
    """``sbom generate oci-layout:…|docker-archive:… --json``: what was generated from an image on disk."""

    image: LocalImagePublic
    format: str
    #: Where the document was written (None: standard output).
    output: str | None
    distro: DistroPublic | None
    packages: int
    warnings: list[str]

    @classmethod
    def of(cls, sbom: Sbom, *, fmt: SbomFormat, output: str | None) -> LocalSbomPublic:
        image, distro = sbom.image, sbom.distro
        return cls(
            image=LocalImagePublic(
                name=image.name,
                digest=image.digest,
                platform=str(image.platform),
                layers=list(image.layer_digests),
            ),
            format=fmt.value,
            output=output,
            distro=None
            if distro is None
            else DistroPublic(
                id=distro.id, version_id=distro.version_id, version_codename=distro.version_codename
            ),
            packages=len(sbom.packages),
            warnings=[str(w) for w in sbom.warnings],
        )


class VulnDbStatusPublic(BaseModel):
    advisories: int
    withdrawn: int
    per_ecosystem: dict[str, int]
    imports: int
    last_import: str | None
    newest_modified: str | None

    @classmethod
    def of(cls, status: VulnDbStatus) -> VulnDbStatusPublic:
        return cls(
            advisories=status.advisories,
            withdrawn=status.withdrawn,
            per_ecosystem=dict(status.per_ecosystem),
            imports=status.imports,
            last_import=None if status.last_import is None else status.last_import.isoformat(),
            newest_modified=None if status.newest_modified is None else status.newest_modified.isoformat(),
        )


def _report_fields(r: ImportReport) -> dict[str, Any]:
    return {
        "import_id": r.import_id,
        "source": r.source,
        "started_at": r.started_at.isoformat(),
        "finished_at": None if r.finished_at is None else r.finished_at.isoformat(),
        "records": r.records,
        "inserted": r.inserted,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "withdrawn": r.withdrawn,
        "skipped": r.skipped,
        "problems": list(r.problems),
        "unsupported_ecosystems": dict(r.unsupported),
    }


class NewlyAffectedPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    sbom_id: int
    image_digest: str
    image_name: str
    advisories: list[dict[str, str]]


class ImportReportPublic(BaseModel):
    """What an advisory import did (also the details of its audit record)."""

    import_id: int
    source: str
    started_at: str
    finished_at: str | None
    records: int
    inserted: int
    updated: int
    unchanged: int
    withdrawn: int
    skipped: int
    problems: list[str]
    unsupported_ecosystems: dict[str, int]

    @classmethod
    def of_report(cls, report: ImportReport) -> ImportReportPublic:
        return cls(**_report_fields(report))


class VulnImportPublic(ImportReportPublic):
    newly_affected: list[NewlyAffectedPublic]
    #: One line per webhook call (``HARBOURMASTER_VULN_WEBHOOK_URL``).
    webhook: list[str]
    timings: dict[str, float]

    @classmethod
    def of(cls, result: VulnImport) -> VulnImportPublic:
        return cls(
            **_report_fields(result.report),
            newly_affected=[NewlyAffectedPublic.model_validate(n) for n in result.newly_affected],
            webhook=list(result.webhook),
            timings={k: round(t, 4) for k, t in result.timings.items()},
        )


class FindingPackagePublic(BaseModel):
    name: str
    version: str
    purl: str
    ecosystem: str


class FindingPublic(BaseModel):
    id: str
    aliases: list[str]
    package: FindingPackagePublic
    fixed_versions: list[str]
    severity: str
    state: str
    suppressed_by: str | None
    summary: str
    notes: list[str]


class TierVerdictPublic(BaseModel):
    tier: str
    verdict: str
    blocking: list[str]
    advisories: list[str]
    reason: str


class ScannedImagePublic(BaseModel):
    name: str
    digest: str
    registry: str | None


class ScanSummaryPublic(BaseModel):
    components: int
    unsupported_components: int
    findings: int
    suppressed: int
    by_severity: dict[str, int]


class ScanResultPublic(BaseModel):
    """A scan as ``format: json``; ``sarif`` and ``cyclonedx-vex`` answer those documents instead."""

    # Those documents are :meth:`render` of this result, which keeps the scan it was made from.

    target: str
    findings: list[FindingPublic]
    verdict: TierVerdictPublic | None
    environment: str | None
    image: ScannedImagePublic
    source: str
    summary: ScanSummaryPublic
    warnings: list[str]
    #: Not in the JSON: the scan fails (``scan`` exits 1): an unsuppressed finding is at or above the
    #: ``fail_on`` severity it was asked for, or the verdict is ``block``.
    fails: bool = Field(default=False, exclude=True)
    _scan: ScanResult | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, result: ScanResult, *, fail_on: Severity | None = None) -> ScanResultPublic:
        # The scan's JSON form is the scan renderer's own (``scan --format json``, shared with SARIF).
        public = cls.model_validate({**result.as_dict(), "fails": result.exit_code(fail_on) != EXIT_OK})
        public._scan = result
        return public

    def _source(self) -> ScanResult:
        if self._scan is None:
            raise Error("only a scan service's own result can be rendered (this one was built from JSON)")
        return self._scan

    def render(self, fmt: OutputFormat) -> str:
        """The scan as ``fmt`` text (JSON, SARIF 2.1.0 or CycloneDX VEX), exactly as the renderers write it.

        Raises:
            Error: the result was not made by a scan service.
            ValueError: ``fmt`` is ``table`` (use :meth:`table_rows`).
        """
        return render(self._source(), fmt)

    def table_rows(self) -> list[tuple[str, ...]]:
        """A table row per finding (unsuppressed first, most severe first).

        Raises:
            Error: the result was not made by a scan service.
        """
        return table_rows(self._source())


class AffectedRepositoryPublic(BaseModel):
    """A registry repository an affected digest was seen in, with the tags it was seen under there."""

    repository: str
    tags: list[str]


class AffectedImagePublic(BaseModel):
    """An affected image digest: its stored SBOM's name and every repository and tag it was seen under."""

    # ``repositories`` is empty when no SBOM operation on a registry image has seen the digest (an SBOM
    # generated from a local source only).

    image_name: str
    image_digest: str
    repositories: list[AffectedRepositoryPublic]
    first_seen: str
    advisories: list[dict[str, str]]

    @property
    def names(self) -> tuple[str, ...]:
        """``repository:tag`` for every repository and tag (a repository alone when the digest was only
        seen by digest there); the stored SBOM's name when no repository is known."""
        out = [f"{r.repository}:{tag}" for r in self.repositories for tag in r.tags]
        out += [r.repository for r in self.repositories if not r.tags]
        return tuple(out) or (self.image_name,)
