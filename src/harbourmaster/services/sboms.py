"""The SBOM store: every SBOM kept for its image's life, indexed by image digest and by component purl.

The components table is what continuous correlation queries when new
advisories arrive: by purl type and package name, or by source package for
distro advisories, without reading any SBOM document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from packageurl import PackageURL
from sqlalchemy import delete, insert, select

from harbourmaster.errors import NotFound
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.models import SbomComponentRow, SbomRow
from harbourmaster.supply.sbom import Sbom, SbomFormat, render_sbom

__all__ = ["StoredSbom", "component_rows", "get_sbom", "list_sboms", "store_sbom"]


@dataclass(frozen=True, slots=True)
class StoredSbom:
    id: int
    image_digest: str
    image_name: str
    platform: str
    format: str
    distro: str | None
    origin: str
    component_count: int
    created_at: dt.datetime

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "image_digest": self.image_digest,
            "image_name": self.image_name,
            "platform": self.platform,
            "format": self.format,
            "distro": self.distro,
            "origin": self.origin,
            "component_count": self.component_count,
            "created_at": self.created_at.isoformat(),
        }


def _stored(row: SbomRow) -> StoredSbom:
    return StoredSbom(
        row.id,
        row.image_digest,
        row.image_name,
        row.platform,
        row.format,
        row.distro,
        row.origin,
        row.component_count,
        row.created_at,
    )


def _distro_tag(sbom: Sbom) -> str | None:
    if sbom.distro is None:
        return None
    return f"{sbom.distro.id}-{sbom.distro.version_id}" if sbom.distro.version_id else sbom.distro.id


def component_rows(sbom: Sbom) -> list[dict[str, str | None]]:
    """The index rows for an SBOM's packages (purl parts, source package, distro qualifier)."""
    rows: list[dict[str, str | None]] = []
    for pkg in sbom.packages:
        try:
            purl = PackageURL.from_string(pkg.purl)
            quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
            purl_type, namespace, name = purl.type, purl.namespace, purl.name
            distro = quals.get("distro")
        except ValueError:
            purl_type, namespace, name, distro = str(pkg.type), None, pkg.name, None
        rows.append(
            {
                "purl": pkg.purl,
                "purl_type": purl_type,
                "namespace": namespace,
                "name": name,
                "version": pkg.version,
                "source_package": pkg.source_package or None,
                "source_version": pkg.source_version or None,
                "distro": distro,
                "layer_digest": pkg.layer_digest,
            }
        )
    return rows


def store_sbom(
    hm: Harbourmaster, sbom: Sbom, *, fmt: SbomFormat, actor: str, origin: str = "generated"
) -> StoredSbom:
    """Keep ``sbom`` (rendered as ``fmt``) and index its components; replaces an earlier one for the same
    image digest, format and platform.  One transaction, audited."""
    document = render_sbom(sbom, fmt)
    platform = str(sbom.image.platform)
    now = dt.datetime.now(dt.UTC)
    with hm.db.transaction() as session:
        old = session.scalars(
            select(SbomRow).where(
                SbomRow.image_digest == sbom.image.digest,
                SbomRow.format == fmt.value,
                SbomRow.platform == platform,
            )
        ).one_or_none()
        if old is not None:
            session.execute(delete(SbomComponentRow).where(SbomComponentRow.sbom_id == old.id))
            session.delete(old)
            session.flush()
        row = SbomRow(
            image_digest=sbom.image.digest,
            image_name=sbom.image.name,
            platform=platform,
            format=fmt.value,
            distro=_distro_tag(sbom),
            origin=origin,
            component_count=len(sbom.packages),
            document=document,
            created_at=now,
        )
        session.add(row)
        session.flush()
        rows = component_rows(sbom)
        if rows:
            session.execute(insert(SbomComponentRow), [{"sbom_id": row.id, **r} for r in rows])
        append_audit(
            session,
            actor=actor,
            action="sbom.store",
            target=sbom.image.name,
            details={
                "digest": sbom.image.digest,
                "format": fmt.value,
                "platform": platform,
                "components": len(rows),
                "origin": origin,
            },
        )
        return _stored(row)


def list_sboms(hm: Harbourmaster, *, image_digest: str | None = None) -> list[StoredSbom]:
    with hm.db.read() as session:
        query = select(SbomRow).order_by(SbomRow.created_at.desc())
        if image_digest is not None:
            query = query.where(SbomRow.image_digest == image_digest)
        return [_stored(r) for r in session.scalars(query)]


def get_sbom(
    hm: Harbourmaster, *, image_digest: str, fmt: SbomFormat | None = None
) -> tuple[StoredSbom, str]:
    """The newest stored SBOM document for an image digest.

    Raises:
        NotFound: none is stored for that digest (and format).
    """
    with hm.db.read() as session:
        query = select(SbomRow).where(SbomRow.image_digest == image_digest)
        if fmt is not None:
            query = query.where(SbomRow.format == fmt.value)
        row = session.scalars(query.order_by(SbomRow.created_at.desc()).limit(1)).one_or_none()
        if row is None:
            raise NotFound(
                f"no SBOM is stored for image {image_digest}"
                + (f" in format {fmt.value}" if fmt is not None else "")
            )
        return _stored(row), row.document
