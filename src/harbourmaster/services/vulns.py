"""Vulnerability services: import advisories, report the database's state, scan and judge images,
correlate new advisories with stored SBOMs, and list newly affected images.

Every surface calls these; thresholds come only from the domain
(:func:`harbourmaster.domain.findings.evaluate`), with the tier of the named
environment, the governance allowlist and the scanned image's registry.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.durations import MAX_WINDOW, parse_duration
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.audit import AuditEvent, append_audit, append_audit_many
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sbom_ops import generate_image_sbom
from harbourmaster.services.sboms import get_sbom
from harbourmaster.store.models import AdvisoryMatchRow, SbomRow
from harbourmaster.supply.advisories import (
    AdvisorySource,
    ImportReport,
    SqlAdvisoryIndex,
    VulnDbStatus,
    import_advisories,
    open_osv,
    vulndb_status,
)
from harbourmaster.supply.advisories.correlate import NewlyAffected, correlate_changed
from harbourmaster.supply.sbom import ScanProgress, default_catalogers, open_source, scan_image
from harbourmaster.supply.scan import (
    Judgement,
    Scanner,
    ScanResult,
    components_from_document,
    components_from_sbom,
    evaluate_report,
    is_report,
    parse_openvex,
    parse_report,
)

__all__ = [
    "WEBHOOK_ENV",
    "AffectedImage",
    "VulnImport",
    "advisory_index",
    "affected_since",
    "import_vulndb",
    "judgement_for",
    "parse_since",
    "scan_document",
    "scan_target",
    "vulndb_state",
]

log = logging.getLogger(__name__)

#: When set, each newly affected image is POSTed here as JSON after an import.
WEBHOOK_ENV = "HARBOURMASTER_VULN_WEBHOOK_URL"
_INDEXES: weakref.WeakKeyDictionary[Harbourmaster, SqlAdvisoryIndex] = weakref.WeakKeyDictionary()


def advisory_index(hm: Harbourmaster) -> SqlAdvisoryIndex:
    """The core's advisory index (one per core, so its compiled cache is shared by every scan)."""
    index = _INDEXES.get(hm)
    if index is None:
        index = _INDEXES[hm] = SqlAdvisoryIndex(hm.db)
    return index


@dataclass(slots=True, kw_only=True)
class VulnImport:
    """An import's report, the images it newly affects, and what became of the webhook calls."""

    report: ImportReport
    newly_affected: list[NewlyAffected] = field(default_factory=list)
    webhook: list[str] = field(default_factory=list)
    #: Seconds spent importing, finding newly affected images, and notifying (audit and webhook).
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            **self.report.as_dict(),
            "newly_affected": [n.as_dict() for n in self.newly_affected],
            "webhook": list(self.webhook),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


def _webhook(hm: Harbourmaster, affected: Sequence[NewlyAffected], import_id: int) -> list[str]:
    url = hm.settings.vuln_webhook_url or os.environ.get(WEBHOOK_ENV)
    if not url or not affected:
        return []
    outcomes: list[str] = []
    with httpx.Client(timeout=5.0) as client:
        for image in affected:
            body = {"event": "image.newly-affected", "import_id": import_id, **image.as_dict()}
            try:
                response = client.post(url, json=body)
                outcomes.append(f"{image.image_digest}: HTTP {response.status_code}")
            except httpx.HTTPError as exc:
                log.warning("vulnerability webhook for %s failed: %s", image.image_digest, type(exc).__name__)
                outcomes.append(f"{image.image_digest}: failed ({type(exc).__name__})")
    return outcomes


def import_vulndb(
    hm: Harbourmaster,
    principal: Principal,
    *,
    path: str | os.PathLike[str] | None = None,
    source: AdvisorySource | None = None,
    strict: bool = False,
    correlate: bool = True,
) -> VulnImport:
    """Import OSV records from ``path`` (a directory, an ``all.zip`` or a ``.json`` record) or ``source``,
    in one transaction, audited; then find the stored SBOMs the new or changed advisories newly affect,
    audit each and POST it to the webhook when :data:`WEBHOOK_ENV` is set.

    Raises:
        Forbidden: the principal may not write the advisory database.
        InvalidAdvisory: the path is missing or unusable, or (``strict``) a record is malformed; then
            nothing is written.
    """
    require(principal, Permission.VULNDB_WRITE)
    if source is None:
        if path is None:
            raise BadInput("give a path to import")
        source = open_osv(path)
    started = time.perf_counter()
    with hm.db.transaction() as session:
        report = import_advisories(session, source, actor=principal.audit_name, strict=strict)
        append_audit(
            session,
            actor=principal.audit_name,
            action="vulndb.import",
            target=source.description,
            result="ok" if not report.skipped else "partial",
            details={k: v for k, v in report.as_dict().items() if k != "problems"}
            | {"problems": report.problems[:10]},
        )
    result = VulnImport(report=report, timings={"import": time.perf_counter() - started})
    if correlate and report.changed:
        now = dt.datetime.now(dt.UTC)
        # One transaction: the (image, advisory) pairs are recorded only with their audit records, so a
        # failure leaves them to be found again by the next import.
        with hm.db.transaction() as session:
            started = time.perf_counter()
            result.newly_affected = correlate_changed(
                session, report.changed, import_id=report.import_id, now=now
            )
            result.timings["correlate"] = time.perf_counter() - started
            started = time.perf_counter()
            append_audit_many(
                session,
                [
                    AuditEvent(
                        actor=principal.audit_name,
                        action="vuln.newly-affected",
                        target=image.image_name,
                        result="affected",
                        details={
                            "digest": image.image_digest,
                            "import_id": report.import_id,
                            "advisories": sorted({a["id"] for a in image.advisories}),
                        },
                    )
                    for image in result.newly_affected
                ],
            )
        result.webhook = _webhook(hm, result.newly_affected, report.import_id)
        result.timings["notify"] = time.perf_counter() - started
    return result


def vulndb_state(hm: Harbourmaster, principal: Principal) -> VulnDbStatus:
    """Counts per ecosystem, the last import time and the newest ``modified``.

    Raises:
        Forbidden: the principal may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.db.read() as session:
        return vulndb_status(session)


def _registry_of(hm: Harbourmaster, image: str) -> str | None:
    try:
        return hm.snapshot().index.lookup(parse_reference(image))
    except ReferenceError:
        return None


def judgement_for(
    hm: Harbourmaster, *, environment: str | None, image: str | None, vex: Sequence[tuple[str, str]] = ()
) -> Judgement:
    """What to judge findings by: the environment's tier policy, the allowlist, the image's registry
    (for registry-scoped allowlist entries) and the VEX documents ``(source, text)``.

    Raises:
        NotFound: no environment has that name.
        VexError: a VEX document is malformed.
    """
    state = hm.state()
    policy = None
    if environment is not None:
        env = state.environment(environment)
        if env is None:
            raise NotFound(
                f"no environment named {environment!r}",
                details=["known: " + ", ".join(e.name for e in state.environments) or "none"],
            )
        policy = state.tiers[env.tier]
    statements = tuple(s for source, text in vex for s in parse_openvex(text, source=source))
    return Judgement(
        environment=environment,
        policy=policy,
        allowlist=tuple(state.allowlist),
        registry=_registry_of(hm, image) if image else None,
        today=hm.today(),
        vex=statements,
    )


def scan_document(
    hm: Harbourmaster,
    principal: Principal,
    *,
    document: str | bytes,
    where: str,
    environment: str | None = None,
    vex: Sequence[tuple[str, str]] = (),
    image: str | None = None,
) -> ScanResult:
    """Scan an SBOM document (CycloneDX or SPDX JSON), or judge a Trivy/Grype JSON report.

    ``image`` overrides the image name the document gives (it decides the registry scope).

    Raises:
        Forbidden: the principal may not read governance data.
        ComponentError, ReportError: the document is neither a readable SBOM nor a report.
        NotFound: the environment does not exist.  VexError: a VEX document is malformed.
        BadInput: the document is larger than ``HARBOURMASTER_MAX_SBOM_BYTES``.
    """
    require(principal, Permission.GOVERNANCE_READ)
    size = len(document.encode("utf-8", "surrogatepass") if isinstance(document, str) else document)
    limit = hm.settings.max_sbom_bytes
    if size > limit:
        raise BadInput(
            f"{where}: {size} bytes is larger than the {limit}-byte limit for a scanned document "
            "(HARBOURMASTER_MAX_SBOM_BYTES)"
        )
    try:
        decoded = json.loads(document)
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if is_report(decoded):
        report = parse_report(document, where=where)
        judgement = judgement_for(hm, environment=environment, image=image or report.target, vex=vex)
        return evaluate_report(report, judgement=judgement, target=where)
    sbom = components_from_document(document, where=where)
    name = image or sbom.image_name
    judgement = judgement_for(hm, environment=environment, image=name, vex=vex)
    return Scanner(advisories=advisory_index(hm)).scan(
        sbom.components,
        target=where,
        image_name=name,
        image_digest=sbom.image_digest,
        judgement=judgement,
        warnings=sbom.skipped,
    )


def scan_target(
    hm: Harbourmaster,
    principal: Principal,
    *,
    target: str,
    environment: str | None = None,
    vex: Sequence[tuple[str, str]] = (),
    image: str | None = None,
    progress: ScanProgress | None = None,
) -> ScanResult:
    """Scan ``oci-layout:DIR[:TAG]``, ``docker-archive:FILE``, an SBOM or scanner-report file, or an image
    in an approved registry: by digest its stored SBOM is used when there is one; otherwise (or by tag) the
    SBOM is generated from the registry (streamed with the registry's credential) and stored.

    Raises:
        Forbidden: the principal may not read governance data.
        SourceError, LayerError: the image on disk cannot be read.
        NotFound: the environment does not exist.
        ImageNotInApprovedRegistry, RegistryError: the image is in no approved registry, or the registry
            failed (generating needs the REGISTRY_PROBE permission).
        BadInput: the target is none of the accepted forms.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if target.startswith(("oci-layout:", "docker-archive:")):
        with open_source(target) as source:
            sbom = scan_image(source, catalogers=default_catalogers(), progress=progress)
        name = image or sbom.image.name
        judgement = judgement_for(hm, environment=environment, image=name, vex=vex)
        return Scanner(advisories=advisory_index(hm)).scan(
            components_from_sbom(sbom),
            target=target,
            image_name=name,
            image_digest=sbom.image.digest,
            judgement=judgement,
            warnings=tuple(str(w) for w in sbom.warnings),
        )
    path = Path(target)
    if path.is_file():
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"{target}: cannot be read ({exc.strerror})") from None
        return scan_document(
            hm, principal, document=text, where=target, environment=environment, vex=vex, image=image
        )
    if target.endswith((".json", ".cdx", ".spdx")) or target.startswith(("/", "./", "../", "~")):
        raise BadInput(
            f"{target}: no such file (give an SBOM or report file, an image reference, "
            "oci-layout:DIR or docker-archive:FILE)"
        )
    try:
        reference = parse_reference(target)
    except ReferenceError as exc:
        raise BadInput(
            f"{target!r} is not a file, an oci-layout:/docker-archive: source or an image "
            f"reference ({exc.message})"
        ) from None
    if reference.digest is not None:
        try:
            _stored, document = get_sbom(hm, image_digest=str(reference.digest))
        except NotFound:
            pass
        else:
            return scan_document(
                hm,
                principal,
                document=document,
                where=target,
                environment=environment,
                vex=vex,
                image=image or target,
            )
    outcome = generate_image_sbom(hm, principal, target, progress=progress)
    return scan_document(
        hm,
        principal,
        document=outcome.document,
        where=target,
        environment=environment,
        vex=vex,
        image=image or target,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectedImage:
    image_name: str
    image_digest: str
    first_seen: dt.datetime
    advisories: tuple[dict[str, str], ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "image_name": self.image_name,
            "image_digest": self.image_digest,
            "first_seen": self.first_seen.isoformat(),
            "advisories": list(self.advisories),
        }


def parse_since(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """``2026-01-31``, ``2026-01-31T12:00:00Z``, or a duration back from now (``30m``, ``24h``, ``7d``).

    Raises:
        BadInput: none of those forms, or a duration longer than 100 years.
    """
    value = text.strip()
    if len(value) >= 2 and value[-1] in "mhdw" and value[:-1].isdigit():
        ago = parse_duration(value, field="--since", maximum=MAX_WINDOW, units="mhdw")
        return (now or dt.datetime.now(dt.UTC)) - ago
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(
            f"--since: {text!r} is neither a date/time (2026-01-31, 2026-01-31T12:00:00Z) "
            "nor a duration (30m, 24h, 7d, 2w)"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def affected_since(hm: Harbourmaster, principal: Principal, *, since: dt.datetime) -> list[AffectedImage]:
    """Images found newly affected by an advisory at or after ``since``, newest first.

    Raises:
        Forbidden: the principal may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    images: dict[int, tuple[SbomRow, dt.datetime, list[dict[str, str]]]] = {}
    with hm.db.read() as session:
        rows = session.execute(
            select(AdvisoryMatchRow, SbomRow)
            .join(SbomRow, SbomRow.id == AdvisoryMatchRow.sbom_id)
            .where(AdvisoryMatchRow.first_seen >= since)
            .order_by(AdvisoryMatchRow.first_seen)
        ).all()
        for match, sbom in rows:
            seen = match.first_seen if match.first_seen.tzinfo else match.first_seen.replace(tzinfo=dt.UTC)
            entry = images.setdefault(sbom.id, (sbom, seen, []))
            entry[2].append(
                {
                    "id": match.advisory_id,
                    "purl": match.purl,
                    "version": match.version,
                    "severity": match.severity,
                }
            )
        out = [
            AffectedImage(
                image_name=s.image_name,
                image_digest=s.image_digest,
                first_seen=first,
                advisories=tuple(advisories),
            )
            for s, first, advisories in images.values()
        ]
    return sorted(out, key=lambda a: a.first_seen, reverse=True)
