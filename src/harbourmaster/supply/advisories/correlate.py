"""Continuous correlation: which stored SBOMs the new or changed advisories newly affect.

Only the changed advisories are read; each affected entry is turned into a
look-up on the stored-SBOM index (``sbom_components`` by purl type and name, or
by source package for distro advisories), the candidate components are checked
with the ecosystem's version ordering, and the ``(sbom, advisory, package)``
triples not already in ``advisory_matches`` are recorded and returned.  Nothing
else is rescanned.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from harbourmaster.domain.osv_ranges import InvalidRange
from harbourmaster.domain.versions import InvalidVersion, UnknownEcosystem
from harbourmaster.store.models import (
    AdvisoryAffectedRow,
    AdvisoryMatchRow,
    AdvisoryRow,
    SbomComponentRow,
    SbomRow,
)
from harbourmaster.supply.advisories.ecosystems import component_ecosystem, ecosystem_base
from harbourmaster.supply.advisories.store import AFFECTED_COLUMNS, compiled_row

__all__ = ["NewlyAffected", "correlate_changed", "purl_hash"]

_CHUNK = 500
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
_OS_TYPES = frozenset({"deb", "apk", "rpm"})


def purl_hash(purl: str) -> str:
    """The key a component's purl is stored under in ``advisory_matches``."""
    return hashlib.sha256(purl.encode()).hexdigest()[:40]


@dataclass(slots=True, kw_only=True)
class NewlyAffected:
    """An image (stored SBOM) that a just-imported advisory affects for the first time."""

    sbom_id: int
    image_digest: str
    image_name: str
    advisories: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "sbom_id": self.sbom_id,
            "image_digest": self.image_digest,
            "image_name": self.image_name,
            "advisories": list(self.advisories),
        }


def _purl_parts(purl_type: str, name: str) -> tuple[str | None, str]:
    """An OSV package name as purl (namespace, name) for the stored index."""
    if purl_type in ("npm", "golang") and "/" in name:
        namespace, _, short = name.rpartition("/")
        return namespace, short
    if purl_type == "maven" and ":" in name:
        namespace, _, short = name.partition(":")
        return namespace, short
    return None, name


_COMPONENT_COLUMNS = (
    SbomComponentRow.sbom_id,
    SbomComponentRow.purl,
    SbomComponentRow.purl_type,
    SbomComponentRow.namespace,
    SbomComponentRow.name,
    SbomComponentRow.version,
    SbomComponentRow.source_package,
    SbomComponentRow.source_version,
    SbomComponentRow.distro,
)


def _components(session: Session, purl_type: str, name: str) -> list[Any]:
    """Stored components named ``name`` (or, for OS packages, built from source ``name``).

    Two queries, one per index ((purl_type, name) and (purl_type, source_package)): an OR of the two
    would make SQLite scan every component of the type.
    """
    namespace, short = _purl_parts(purl_type, name)
    by_name = select(*_COMPONENT_COLUMNS).where(
        SbomComponentRow.purl_type == purl_type, SbomComponentRow.name == short
    )
    if namespace is not None:
        by_name = by_name.where(SbomComponentRow.namespace == namespace)
    rows = list(session.execute(by_name))
    if purl_type in _OS_TYPES:
        seen = {(r.sbom_id, r.purl) for r in rows}
        by_source = select(*_COMPONENT_COLUMNS).where(
            SbomComponentRow.purl_type == purl_type, SbomComponentRow.source_package == name
        )
        rows.extend(r for r in session.execute(by_source) if (r.sbom_id, r.purl) not in seen)
    return rows


def _changed_rows(session: Session, changed: Sequence[int]) -> Iterable[Any]:
    for start in range(0, len(changed), _CHUNK):
        chunk = list(changed[start : start + _CHUNK])
        yield from session.execute(
            select(*AFFECTED_COLUMNS)
            .join(AdvisoryRow, AdvisoryRow.id == AdvisoryAffectedRow.advisory_pk)
            .where(AdvisoryAffectedRow.advisory_pk.in_(chunk), AdvisoryRow.withdrawn.is_(None))
        )


def correlate_changed(
    session: Session, changed: Sequence[int], *, import_id: int, now: dt.datetime
) -> list[NewlyAffected]:
    """Record and return the stored SBOMs newly affected by the advisories with row ids ``changed``.

    Never raises for a stored component whose version does not parse (it is skipped).
    """
    found: dict[tuple[int, str, str], dict[str, Any]] = {}
    for row in _changed_rows(session, changed):
        base = ecosystem_base(row.ecosystem_key)
        purl_type = _PURL_TYPES.get(base)
        if purl_type is None:
            continue
        try:
            entry = compiled_row(row)
        except (InvalidRange, InvalidVersion, UnknownEcosystem):
            continue
        for comp in _components(session, purl_type, row.name):
            eco = component_ecosystem(comp.purl_type, namespace=comp.namespace, distro=comp.distro)
            if (
                eco is None
                or (row.ecosystem_key != base and eco[1] != row.ecosystem_key)
                or ecosystem_base(eco[1]) != base
            ):
                continue
            by_source = (
                comp.purl_type in _OS_TYPES and comp.name != row.name and comp.source_package == row.name
            )
            version = (comp.source_version or comp.version) if by_source else comp.version
            try:
                if not entry.compiled.matches(version):
                    continue
            except InvalidVersion:
                continue
            found.setdefault(
                (comp.sbom_id, row.advisory_id, purl_hash(comp.purl)),
                {
                    "sbom_id": comp.sbom_id,
                    "advisory_id": row.advisory_id,
                    "purl": comp.purl,
                    "purl_hash": purl_hash(comp.purl),
                    "version": comp.version,
                    "severity": row.severity,
                    "first_seen": now,
                    "import_id": import_id,
                },
            )
    if not found:
        return []
    known: set[tuple[int, str, str]] = set()
    sbom_ids = sorted({k[0] for k in found})
    advisory_ids = sorted({k[1] for k in found})
    for start in range(0, len(sbom_ids), _CHUNK):
        for a_start in range(0, len(advisory_ids), _CHUNK):
            known.update(
                (row[0], row[1], row[2])
                for row in session.execute(
                    select(
                        AdvisoryMatchRow.sbom_id, AdvisoryMatchRow.advisory_id, AdvisoryMatchRow.purl_hash
                    ).where(
                        AdvisoryMatchRow.sbom_id.in_(sbom_ids[start : start + _CHUNK]),
                        AdvisoryMatchRow.advisory_id.in_(advisory_ids[a_start : a_start + _CHUNK]),
                    )
                )
            )
    new = [v for k, v in found.items() if k not in known]
    if not new:
        return []
    session.execute(insert(AdvisoryMatchRow), new)
    images: dict[int, NewlyAffected] = {}
    new_ids = sorted({m["sbom_id"] for m in new})
    for start in range(0, len(new_ids), _CHUNK):
        for sbom_id, digest, name in session.execute(
            select(SbomRow.id, SbomRow.image_digest, SbomRow.image_name).where(
                SbomRow.id.in_(new_ids[start : start + _CHUNK])
            )
        ):
            images[sbom_id] = NewlyAffected(sbom_id=sbom_id, image_digest=digest, image_name=name)
    for match in new:
        images[match["sbom_id"]].advisories.append(
            {
                "id": match["advisory_id"],
                "purl": match["purl"],
                "version": match["version"],
                "severity": match["severity"],
            }
        )
    return [images[k] for k in sorted(images)]
