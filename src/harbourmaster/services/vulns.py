"""Vulnerability services: import advisories, report the database's state, scan and judge images,
correlate new advisories with stored SBOMs, and list newly affected images.

Every surface calls these, and each answers with its model from
:mod:`harbourmaster.services.supply_results`; thresholds come only from the domain
(:func:`harbourmaster.domain.findings.evaluate`), with the tier of the named
environment, the governance allowlist and the scanned image's registry.  Newly
affected images are announced through the core's notifier (``hm.notifier``: the
webhook of ``HARBOURMASTER_VULN_WEBHOOK_URL``, chosen by the composition root).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.durations import MAX_WINDOW, parse_duration
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.severity import Severity
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.notify.interface import Notification
from harbourmaster.services.advisories import ImportReport, StoredAdvisoryIndex, import_advisories
from harbourmaster.services.audit import AuditEvent
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.correlation import NewlyAffected, correlate_changed
from harbourmaster.services.sbom_ops import generate_image_sbom
from harbourmaster.services.sboms import get_sbom
from harbourmaster.services.supply_results import (
    AffectedImagePublic,
    AffectedRepositoryPublic,
    ImportReportPublic,
    NewlyAffectedPublic,
    ScanResultPublic,
    VulnDbStatusPublic,
    VulnImportPublic,
)
from harbourmaster.supply.advisories import AdvisorySource, open_osv
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
    "NEWLY_AFFECTED_EVENT",
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

#: The event each newly affected image is announced as.
NEWLY_AFFECTED_EVENT = "image.newly-affected"
_INDEXES: weakref.WeakKeyDictionary[Harbourmaster, StoredAdvisoryIndex] = weakref.WeakKeyDictionary()


def advisory_index(hm: Harbourmaster) -> StoredAdvisoryIndex:
    """The core's advisory index (one per core, so its compiled cache is shared by every scan)."""
    index = _INDEXES.get(hm)
    if index is None:
        index = _INDEXES[hm] = StoredAdvisoryIndex(hm.store)
    return index


@dataclass(slots=True, kw_only=True)
class VulnImport:
    """An import's report, the images it newly affects, and what became of their notifications (one line
    per webhook call: ``<digest>: HTTP 204``, ``<digest>: failed (ConnectError)``)."""

    report: ImportReport
    newly_affected: list[NewlyAffected] = field(default_factory=list)
    webhook: list[str] = field(default_factory=list)
    #: Seconds spent importing, finding newly affected images, and notifying (audit and webhook).
    timings: dict[str, float] = field(default_factory=dict)


def _notify(hm: Harbourmaster, affected: Sequence[NewlyAffected], import_id: int) -> list[str]:
    """Announce each newly affected image through the core's notifier; a line per delivery."""
    if not affected:
        return []
    deliveries = hm.notifier.send(
        [
            Notification(
                event=NEWLY_AFFECTED_EVENT,
                subject=image.image_digest,
                payload={
                    "import_id": import_id,
                    **NewlyAffectedPublic.model_validate(image).model_dump(mode="json"),
                },
            )
            for image in affected
        ]
    )
    return [str(d) for d in deliveries]


def import_vulndb(
    hm: Harbourmaster,
    principal: Principal,
    *,
    path: str | os.PathLike[str] | None = None,
    source: AdvisorySource | None = None,
    strict: bool = False,
    correlate: bool = True,
) -> VulnImportPublic:
    """Import OSV records from ``path`` (a directory, an ``all.zip`` or a ``.json`` record) or ``source``,
    in one transaction, audited; then find the stored SBOMs the new or changed advisories newly affect,
    audit each and announce it through ``hm.notifier`` (:data:`NEWLY_AFFECTED_EVENT`).

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
    with hm.store.transaction() as tx:
        report = import_advisories(
            tx.advisories, source, actor=principal.audit_name, clock=hm.clock, strict=strict
        )
        tx.audit.append(
            actor=principal.audit_name,
            action="vulndb.import",
            target=source.description,
            result="ok" if not report.skipped else "partial",
            details=ImportReportPublic.of_report(report).model_dump(mode="json", exclude={"problems"})
            | {"problems": report.problems[:10]},
        )
    result = VulnImport(report=report, timings={"import": time.perf_counter() - started})
    if correlate and report.changed:
        now = hm.clock.now()
        # One transaction: the (image, advisory) pairs are recorded only with their audit records, so a
        # failure leaves them to be found again by the next import.
        with hm.store.transaction() as tx:
            started = time.perf_counter()
            result.newly_affected = correlate_changed(tx, report.changed, import_id=report.import_id, now=now)
            result.timings["correlate"] = time.perf_counter() - started
            started = time.perf_counter()
            tx.audit.append_many(
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
        result.webhook = _notify(hm, result.newly_affected, report.import_id)
        result.timings["notify"] = time.perf_counter() - started
    return VulnImportPublic.of(result)


def vulndb_state(hm: Harbourmaster, principal: Principal) -> VulnDbStatusPublic:
    """Counts per ecosystem, the last import time and the newest ``modified``.

    Raises:
        Forbidden: the principal may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.store.read() as tx:
        return VulnDbStatusPublic.of(tx.advisories.status())


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
        today=hm.clock.today(),
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
    fail_on: Severity | None = None,
) -> ScanResultPublic:
    """Scan an SBOM document (CycloneDX or SPDX JSON), or judge a Trivy/Grype JSON report.

    ``image`` overrides the image name the document gives (it decides the registry scope).  The
    result ``fails`` when an unsuppressed finding is at or above ``fail_on`` or the verdict blocks.

    Raises:
        Forbidden: the principal may not read governance data.
        ComponentError, ReportError: the document is neither a readable SBOM nor a report.
        NotFound: the environment does not exist.  VexError: a VEX document is malformed.
        BadInput: the document is larger than ``HARBOURMASTER_MAX_SBOM_BYTES``.
    """
    require(principal, Permission.GOVERNANCE_READ)
    result = _scan_document(hm, document=document, where=where, environment=environment, vex=vex, image=image)
    return ScanResultPublic.of(result, fail_on=fail_on)


def _scan_document(
    hm: Harbourmaster,
    *,
    document: str | bytes,
    where: str,
    environment: str | None,
    vex: Sequence[tuple[str, str]],
    image: str | None,
) -> ScanResult:
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
    fail_on: Severity | None = None,
) -> ScanResultPublic:
    """Scan ``oci-layout:DIR[:TAG]``, ``docker-archive:FILE``, an SBOM or scanner-report file, or an image
    in an approved registry: by digest its stored SBOM is used when there is one; otherwise (or by tag) the
    SBOM is generated from the registry (streamed with the registry's credential) and stored.  The result
    ``fails`` when an unsuppressed finding is at or above ``fail_on`` or the verdict blocks.

    Raises:
        Forbidden: the principal may not read governance data.
        SourceError, LayerError: the image on disk cannot be read.
        NotFound: the environment does not exist.
        ImageNotInApprovedRegistry, RegistryError: the image is in no approved registry, or the registry
            failed (generating needs the REGISTRY_PROBE permission).
        BadInput: the target is none of the accepted forms.
    """
    require(principal, Permission.GOVERNANCE_READ)
    result = _scan_target(hm, principal, target=target, environment=environment, vex=vex, image=image,
                          progress=progress)
    return ScanResultPublic.of(result, fail_on=fail_on)


def _scan_target(
    hm: Harbourmaster,
    principal: Principal,
    *,
    target: str,
    environment: str | None,
    vex: Sequence[tuple[str, str]],
    image: str | None,
    progress: ScanProgress | None,
) -> ScanResult:
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
        return _scan_document(hm, document=text, where=target, environment=environment, vex=vex, image=image)
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
            return _scan_document(
                hm,
                document=document,
                where=target,
                environment=environment,
                vex=vex,
                image=image or target,
            )
    outcome = generate_image_sbom(hm, principal, target, progress=progress)
    assert outcome.document is not None  # generate answers with the document
    return _scan_document(
        hm,
        document=outcome.document,
        where=target,
        environment=environment,
        vex=vex,
        image=image or target,
    )


@overload
def parse_since(text: str) -> dt.datetime | dt.timedelta: ...
@overload
def parse_since(text: str, *, now: dt.datetime) -> dt.datetime: ...
def parse_since(text: str, *, now: dt.datetime | None = None) -> dt.datetime | dt.timedelta:
    """``2026-01-31``, ``2026-01-31T12:00:00Z`` (a UTC moment), or a duration back from now (``30m``,
    ``24h``, ``7d``): the moment that long before ``now`` or, without ``now``, the duration itself, which
    :func:`affected_since` counts back from the core's clock.

    Raises:
        BadInput: none of those forms, or a duration longer than 100 years.
    """
    value = text.strip()
    if len(value) >= 2 and value[-1] in "mhdw" and value[:-1].isdigit():
        ago = parse_duration(value, field="--since", maximum=MAX_WINDOW, units="mhdw")
        return ago if now is None else now - ago
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(
            f"--since: {text!r} is neither a date/time (2026-01-31, 2026-01-31T12:00:00Z) "
            "nor a duration (30m, 24h, 7d, 2w)"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def affected_since(
    hm: Harbourmaster, principal: Principal, *, since: dt.datetime | dt.timedelta
) -> list[AffectedImagePublic]:
    """Image digests found newly affected by an advisory at or after ``since`` (a moment, or how long
    before ``hm.clock.now()``), newest first, each with every registry repository and tag it was seen
    under (one entry per digest, however many SBOMs of it, in other formats, are stored).

    Raises:
        Forbidden: the principal may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if isinstance(since, dt.timedelta):
        since = hm.clock.now() - since
    images: dict[str, tuple[str, dt.datetime, dict[tuple[str, str], dict[str, str]]]] = {}
    with hm.store.read() as tx:
        found = tx.advisories.matches_since(since)
        names = tx.sboms.names({image_digest for image_digest, _, _ in found})
    for image_digest, image_name, match in found:
        entry = images.setdefault(image_digest, (image_name, match.first_seen, {}))
        entry[2].setdefault(
            (match.advisory_id, match.purl),
            {
                "id": match.advisory_id,
                "purl": match.purl,
                "version": match.version,
                "severity": match.severity.value,
            },
        )
    out: list[tuple[dt.datetime, AffectedImagePublic]] = []
    for digest, (name, first, advisories) in images.items():
        tags: dict[str, list[str]] = {}
        for seen in names.get(digest, []):
            tags.setdefault(seen.repository, [])
            if seen.tag:
                tags[seen.repository].append(seen.tag)
        repositories = [
            AffectedRepositoryPublic(repository=repo, tags=sorted(t)) for repo, t in sorted(tags.items())
        ]
        public = AffectedImagePublic(
            image_name=name,
            image_digest=digest,
            repositories=repositories,
            first_seen=first.isoformat(),
            advisories=list(advisories.values()),
        )
        out.append((first, public))
    # By the moment itself, newest first (the ISO text of moments in other offsets does not sort).
    out.sort(key=lambda pair: pair[0], reverse=True)
    return [public for _, public in out]
