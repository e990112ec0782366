"""Scans: judge an SBOM, a Trivy/Grype report, an image on disk or an image in an approved registry
against the advisory database.

What findings are judged by (:func:`judgement_for`) comes only from the domain
(:func:`harbourmaster.domain.findings.evaluate`): the tier of the named environment, the governance
allowlist, the scanned image's registry and any VEX documents.  Each scan answers with
:class:`~harbourmaster.services.supply_results.ScanResultPublic`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal, require
from harbourmaster.domain.model import Tier
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.severity import Severity
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.image_scans import REGISTRY, STORED_SBOM, record_scan
from harbourmaster.services.sbom_ops import generate_image_sbom
from harbourmaster.services.sboms import list_sboms
from harbourmaster.services.supply_results import ScanResultPublic
from harbourmaster.services.vulns import advisory_index
from harbourmaster.store.values import StoredSbom
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

__all__ = ["judgement_for", "scan_document", "scan_target"]


def _registry_of(hm: Harbourmaster, image: str) -> str | None:
    try:
        return hm.snapshot().index.lookup(parse_reference(image))
    except ReferenceError:
        return None


def judgement_for(
    hm: Harbourmaster,
    *,
    environment: str | None,
    image: str | None,
    vex: Sequence[tuple[str, str]] = (),
    tier: Tier | None = None,
) -> Judgement:
    """What to judge findings by: the environment's tier policy, the allowlist, the image's registry
    (for registry-scoped allowlist entries) and the VEX documents ``(source, text)``.

    Raises:
        NotFound: no environment has that name.
        VexError: a VEX document is malformed.
        BadInput: both an environment and a tier are given.
    """
    if environment is not None and tier is not None:
        raise BadInput("judge by an environment or by a tier, not both")
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
    elif tier is not None:
        # A CI job with no environment judges by a tier: the same thresholds the server enforces.
        policy = state.tiers[tier]
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
    tier: Tier | None = None,
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
    result = _scan_document(
        hm, document=document, where=where, environment=environment, tier=tier, vex=vex, image=image
    )
    return ScanResultPublic.of(result, fail_on=fail_on)


def _scan_document(
    hm: Harbourmaster,
    *,
    document: str | bytes,
    where: str,
    environment: str | None,
    tier: Tier | None,
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
        judgement = judgement_for(
            hm, environment=environment, tier=tier, image=image or report.target, vex=vex
        )
        return evaluate_report(report, judgement=judgement, target=where)
    sbom = components_from_document(document, where=where)
    name = image or sbom.image_name
    judgement = judgement_for(hm, environment=environment, tier=tier, image=name, vex=vex)
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
    tier: Tier | None = None,
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
    result = _scan_target(
        hm,
        principal,
        target=target,
        environment=environment,
        tier=tier,
        vex=vex,
        image=image,
        progress=progress,
    )
    return ScanResultPublic.of(result, fail_on=fail_on)


def _scan_target(
    hm: Harbourmaster,
    principal: Principal,
    *,
    target: str,
    environment: str | None,
    tier: Tier | None,
    vex: Sequence[tuple[str, str]],
    image: str | None,
    progress: ScanProgress | None,
) -> ScanResult:
    if target.startswith(("oci-layout:", "docker-archive:")):
        with open_source(target) as source:
            sbom = scan_image(source, catalogers=default_catalogers(), progress=progress)
        name = image or sbom.image.name
        judgement = judgement_for(hm, environment=environment, tier=tier, image=name, vex=vex)
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
        return _scan_document(
            hm, document=text, where=target, environment=environment, tier=tier, vex=vex, image=image
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
    asked = None if reference.digest is None else str(reference.digest)
    if asked is not None:
        stored = _stored_sbom(hm, asked)
        if stored is not None:
            kept, document = stored
            result = _scan_document(
                hm,
                document=document,
                where=target,
                environment=environment,
                tier=tier,
                vex=vex,
                image=image or target,
            )
            # Kept for the verdict when harbourmaster generated the SBOM, by a registry operator only:
            # readers (auditors, team members) scan without changing what admission sees.
            if kept.origin == "generated" and principal.role in PERMISSIONS[Permission.REGISTRY_PROBE]:
                record_scan(
                    hm,
                    result,
                    digests=[asked, kept.image_digest],
                    origin=STORED_SBOM,
                    actor=principal.audit_name,
                )
            return result
    outcome = generate_image_sbom(hm, principal, target, progress=progress)
    assert outcome.document is not None  # generate answers with the document
    result = _scan_document(
        hm,
        document=outcome.document,
        where=target,
        environment=environment,
        tier=tier,
        vex=vex,
        image=image or target,
    )
    record_scan(
        hm, result, digests=[outcome.digest, asked or ""], origin=REGISTRY, actor=principal.audit_name
    )
    return result


def _stored_sbom(hm: Harbourmaster, digest: str) -> tuple[StoredSbom, str] | None:
    """The stored SBOM of ``digest`` to scan: the newest harbourmaster generated, else the newest kept."""
    kept = list_sboms(hm, image_digest=digest)
    if not kept:
        return None
    chosen = next((s for s in kept if s.origin == "generated"), kept[0])
    with hm.store.read() as tx:
        document = tx.sboms.document(chosen.id)
    return None if document is None else (chosen, document)
