"""The scans the verdict judges: the latest scan of each image digest, kept and kept current.

A scan is kept for a digest only when harbourmaster read the image itself: an SBOM it generated
from the registry's layers (``origin="registry"``) or one it generated earlier and stored
(``stored-sbom``).  An SBOM someone attached to the image, or a document given to ``scan``, is not:
whoever can push to a registry or call the API could otherwise declare an image clean.

The findings are kept as matched; the tier's thresholds and the allowlist are applied when the
verdict is taken, so changing them needs no rescan.  New advisories do: after an advisory import,
:func:`refresh_scans` rescans the digests correlation found newly affected, from their stored
SBOMs, in the import's wake, so the next verdict on such a digest sees the new finding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from harbourmaster.domain.verdict import ScanFacts
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import StoredScan

if TYPE_CHECKING:
    from harbourmaster.supply.scan import ScanResult

__all__ = ["REGISTRY", "STORED_SBOM", "facts_of", "record_scan", "refresh_scans", "scan_facts"]

log = logging.getLogger(__name__)

#: Origins of kept scans.
REGISTRY = "registry"
STORED_SBOM = "stored-sbom"
#: Digests rescanned per transaction when refreshing.
_BATCH = 50


def record_scan(
    hm: Harbourmaster, result: ScanResult, *, digests: Iterable[str], origin: str, actor: str
) -> None:
    """Keep ``result`` as the latest scan of each of ``digests`` (the image's digest, and the index
    digest it was reached by when that differs); one transaction, audited as ``image.scan-recorded``."""
    keep = sorted({d for d in digests if d})
    if not keep:
        return
    now = hm.clock.now()
    with hm.store.transaction() as tx:
        for digest in keep:
            tx.scans.record(
                StoredScan(
                    image_digest=digest,
                    image_name=result.image_name,
                    scanned_at=now,
                    components=result.components,
                    findings=result.findings,
                    origin=origin,
                )
            )
        tx.audit.append(
            actor=actor,
            action="image.scan-recorded",
            target=result.image_name,
            details={
                "digests": keep,
                "origin": origin,
                "components": result.components,
                "findings": len(result.findings),
            },
        )


def scan_facts(hm: Harbourmaster, digests: Iterable[str]) -> dict[str, ScanFacts]:
    """What the verdict knows of each digest's vulnerabilities: its latest kept scan."""
    with hm.store.read() as tx:
        return facts_of(tx.scans.latest(list(digests)))


def facts_of(kept: Mapping[str, StoredScan]) -> dict[str, ScanFacts]:
    """The kept scans (by digest, as the store gives them) as the verdict judges them."""
    return {
        digest: ScanFacts(digest=digest, scanned_at=scan.scanned_at, findings=scan.findings)
        for digest, scan in kept.items()
    }


def _rescan(hm: Harbourmaster, digest: str, stored: StoredScan) -> ScanResult | None:
    # The scanner and the advisory index, at first use: a verdict that only reads kept scans needs neither.
    from harbourmaster.services.vulns import advisory_index
    from harbourmaster.supply.scan import Judgement, Scanner, components_from_document

    with hm.store.read() as tx:
        sboms = [s for s in tx.sboms.stored(image_digest=digest) if s.origin == "generated"]
        document = tx.sboms.document(sboms[0].id) if sboms else None
    if document is None:
        return None
    sbom = components_from_document(document, where=f"stored SBOM of {digest}")
    judgement = Judgement(
        environment=None, policy=None, allowlist=(), registry=None, today=hm.clock.today(), vex=()
    )
    return Scanner(advisories=advisory_index(hm)).scan(
        sbom.components,
        target=digest,
        image_name=stored.image_name,
        image_digest=digest,
        judgement=judgement,
        warnings=sbom.skipped,
    )


def refresh_scans(hm: Harbourmaster, digests: Iterable[str], *, actor: str) -> list[str]:
    """Rescan each of ``digests`` that has a kept scan, from its stored generated SBOM, against the
    advisories as they are now; returns the digests whose scan was replaced.  A digest whose SBOM is
    gone keeps its scan (and is logged)."""
    wanted = sorted(set(digests))
    refreshed: list[str] = []
    for start in range(0, len(wanted), _BATCH):
        with hm.store.read() as tx:
            kept = tx.scans.latest(wanted[start : start + _BATCH])
        for digest, stored in sorted(kept.items()):
            result = _rescan(hm, digest, stored)
            if result is None:
                log.warning("the kept scan of %s was not refreshed: no generated SBOM is stored", digest)
                continue
            record_scan(hm, result, digests=[digest], origin=STORED_SBOM, actor=actor)
            refreshed.append(digest)
    return refreshed
