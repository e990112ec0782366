"""Continuous correlation: which stored SBOMs the new or changed advisories newly affect.

Only the changed advisories are read; each affected entry is turned into a
look-up on the stored SBOMs' purl index (by purl type and name, or by source
package for distro advisories), the candidate components are checked with the
ecosystem's version ordering, and the ``(sbom, advisory, package)`` triples not
recorded yet are recorded and returned.  Nothing else is rescanned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from harbourmaster.domain.osv_ranges import InvalidRange
from harbourmaster.domain.versions import InvalidVersion, UnknownEcosystem
from harbourmaster.services.advisories import compiled_entry
from harbourmaster.store.interface import Repositories
from harbourmaster.store.values import AdvisoryMatch, AffectedEntry, StoredComponent
from harbourmaster.supply.advisories import component_ecosystem, ecosystem_base

__all__ = ["NewlyAffected", "affected_components", "correlate_changed", "purl_hash"]

#: The purl type of the components each OSV ecosystem base concerns.
_PURL_TYPES = {
    "debian": "deb",
    "ubuntu": "deb",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "red hat": "rpm",
    "almalinux": "rpm",
    "rocky linux": "rpm",
    "pypi": "pypi",
    "npm": "npm",
    "go": "golang",
    "maven": "maven",
    "rubygems": "gem",
    "crates.io": "cargo",
}
#: Distribution packages, which advisories name by source package.
_OS_TYPES = frozenset({"deb", "apk", "rpm"})


def purl_hash(purl: str) -> str:
    """The key a component's purl is recorded under in a match."""
    return hashlib.sha256(purl.encode()).hexdigest()[:40]


@dataclass(slots=True, kw_only=True)
class NewlyAffected:
    """An image (stored SBOM) that a just-imported advisory affects for the first time."""

    sbom_id: int
    image_digest: str
    image_name: str
    advisories: list[dict[str, str]] = field(default_factory=list)


def _purl_parts(purl_type: str, name: str) -> tuple[str | None, str]:
    """An OSV package name as purl (namespace, name) for the index."""
    if purl_type in ("npm", "golang") and "/" in name:
        namespace, _, short = name.rpartition("/")
        return namespace, short
    if purl_type == "maven" and ":" in name:
        namespace, _, short = name.partition(":")
        return namespace, short
    return None, name


def affected_components(
    tx: Repositories, entries: Iterable[AffectedEntry]
) -> Iterator[tuple[AffectedEntry, StoredComponent]]:
    """Each stored SBOM component (looked up on the purl index) whose version an affected entry's
    ranges match, with the entry.

    Never raises for a stored component whose version does not parse (it is skipped), nor for an entry
    whose ranges do not compile (it matches nothing).
    """
    for entry in entries:
        base = ecosystem_base(entry.ecosystem_key)
        purl_type = _PURL_TYPES.get(base)
        if purl_type is None:
            continue
        try:
            compiled = compiled_entry(entry)
        except (InvalidRange, InvalidVersion, UnknownEcosystem):
            continue
        namespace, short = _purl_parts(purl_type, entry.name)
        source = entry.name if purl_type in _OS_TYPES else None
        for comp in tx.sboms.components(purl_type, short, namespace=namespace, source_package=source):
            eco = component_ecosystem(comp.purl_type, namespace=comp.namespace, distro=comp.distro)
            if (
                eco is None
                or (entry.ecosystem_key != base and eco[1] != entry.ecosystem_key)
                or ecosystem_base(eco[1]) != base
            ):
                continue
            by_source = (
                comp.purl_type in _OS_TYPES and comp.name != entry.name and comp.source_package == entry.name
            )
            version = (comp.source_version or comp.version) if by_source else comp.version
            try:
                if not compiled.compiled.matches(version):
                    continue
            except InvalidVersion:
                continue
            yield entry, comp


def correlate_changed(
    tx: Repositories, changed: Sequence[int], *, import_id: int, now: dt.datetime
) -> list[NewlyAffected]:
    """Record and return the stored SBOMs newly affected by the advisories with row ids ``changed``
    (inside ``tx``'s unit of work).

    Never raises for a stored component whose version does not parse (it is skipped).
    """
    found: dict[tuple[int, str, str], AdvisoryMatch] = {}
    for entry, comp in affected_components(tx, tx.advisories.affected_by_id(changed)):
        key = purl_hash(comp.purl)
        if (comp.sbom_id, entry.advisory_id, key) not in found:
            found[(comp.sbom_id, entry.advisory_id, key)] = AdvisoryMatch(
                sbom_id=comp.sbom_id,
                advisory_id=entry.advisory_id,
                purl=comp.purl,
                purl_hash=key,
                version=comp.version,
                severity=entry.severity,
                first_seen=now,
                import_id=import_id,
            )
    new = tx.advisories.add_matches(list(found.values()))
    if not new:
        return []
    images = {
        image.sbom_id: NewlyAffected(
            sbom_id=image.sbom_id, image_digest=image.image_digest, image_name=image.image_name
        )
        for image in tx.sboms.images({m.sbom_id for m in new})
    }
    for match in new:
        images[match.sbom_id].advisories.append(
            {
                "id": match.advisory_id,
                "purl": match.purl,
                "version": match.version,
                "severity": match.severity.value,
            }
        )
    return [images[k] for k in sorted(images)]
