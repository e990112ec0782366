"""The SBOM repository on SQLAlchemy: stored SBOM documents and the purl index of their components.

The ``sbom_components`` table is what continuous correlation queries when new
advisories arrive: by purl type and package name, or by source package for
distro advisories, without reading any SBOM document.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from harbourmaster.store.image_names import image_names, record_image_name
from harbourmaster.store.interface import SbomRepository
from harbourmaster.store.models import SbomComponentRow, SbomRow
from harbourmaster.store.values import (
    ImageName,
    IndexedComponent,
    SbomDocument,
    SbomImage,
    StoredComponent,
    StoredSbom,
)

__all__ = ["SqlSbomRepository"]

_CHUNK = 500
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


_INDEX_COLUMNS = (
    SbomComponentRow.purl,
    SbomComponentRow.purl_type,
    SbomComponentRow.namespace,
    SbomComponentRow.name,
    SbomComponentRow.version,
    SbomComponentRow.source_package,
    SbomComponentRow.source_version,
    SbomComponentRow.distro,
    SbomComponentRow.layer_digest,
)


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
        # SQLite gives back naive datetimes; everything stored is UTC.
        row.created_at if row.created_at.tzinfo is not None else row.created_at.replace(tzinfo=dt.UTC),
    )


class SqlSbomRepository(SbomRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def replace(self, sbom: SbomDocument, *, created_at: dt.datetime) -> StoredSbom:
        session = self._session
        old = session.scalars(
            select(SbomRow).where(
                SbomRow.image_digest == sbom.image_digest,
                SbomRow.format == sbom.format,
                SbomRow.platform == sbom.platform,
            )
        ).one_or_none()
        if old is not None:
            session.execute(delete(SbomComponentRow).where(SbomComponentRow.sbom_id == old.id))
            session.delete(old)
            session.flush()
        row = SbomRow(
            image_digest=sbom.image_digest,
            image_name=sbom.image_name,
            platform=sbom.platform,
            format=sbom.format,
            distro=sbom.distro,
            origin=sbom.origin,
            component_count=len(sbom.components),
            document=sbom.document,
            created_at=created_at,
        )
        session.add(row)
        session.flush()
        if sbom.components:
            session.execute(
                insert(SbomComponentRow), [{"sbom_id": row.id, **c._asdict()} for c in sbom.components]
            )
        return _stored(row)

    def stored(self, *, image_digest: str | None = None) -> list[StoredSbom]:
        query = select(SbomRow).order_by(SbomRow.created_at.desc())
        if image_digest is not None:
            query = query.where(SbomRow.image_digest == image_digest)
        return [_stored(r) for r in self._session.scalars(query)]

    def newest(self, *, image_digest: str, format: str | None = None) -> tuple[StoredSbom, str] | None:
        query = select(SbomRow).where(SbomRow.image_digest == image_digest)
        if format is not None:
            query = query.where(SbomRow.format == format)
        row = self._session.scalars(query.order_by(SbomRow.created_at.desc()).limit(1)).one_or_none()
        return None if row is None else (_stored(row), row.document)

    def document(self, sbom_id: int) -> str | None:
        return self._session.scalar(select(SbomRow.document).where(SbomRow.id == sbom_id))

    def indexed(self, sbom_id: int) -> list[IndexedComponent]:
        rows = self._session.execute(
            select(*_INDEX_COLUMNS).where(SbomComponentRow.sbom_id == sbom_id).order_by(SbomComponentRow.id)
        )
        return [IndexedComponent._make(r) for r in rows]

    def components(
        self, purl_type: str, name: str, *, namespace: str | None = None, source_package: str | None = None
    ) -> list[StoredComponent]:
        # Two queries, one per index ((purl_type, name) and (purl_type, source_package)): an OR of the
        # two would make SQLite scan every component of the type.
        by_name = select(*_COMPONENT_COLUMNS).where(
            SbomComponentRow.purl_type == purl_type, SbomComponentRow.name == name
        )
        if namespace is not None:
            by_name = by_name.where(SbomComponentRow.namespace == namespace)
        found = [StoredComponent._make(r) for r in self._session.execute(by_name)]
        if source_package is not None:
            seen = {(c.sbom_id, c.purl) for c in found}
            by_source = select(*_COMPONENT_COLUMNS).where(
                SbomComponentRow.purl_type == purl_type, SbomComponentRow.source_package == source_package
            )
            found.extend(
                StoredComponent._make(r)
                for r in self._session.execute(by_source)
                if (r.sbom_id, r.purl) not in seen
            )
        return found

    def images(self, sbom_ids: Collection[int]) -> list[SbomImage]:
        ordered = sorted(sbom_ids)
        out: list[SbomImage] = []
        for start in range(0, len(ordered), _CHUNK):
            out.extend(
                SbomImage._make(r)
                for r in self._session.execute(
                    select(SbomRow.id, SbomRow.image_digest, SbomRow.image_name).where(
                        SbomRow.id.in_(ordered[start : start + _CHUNK])
                    )
                )
            )
        return out

    def record_name(
        self, *, image_digest: str, repository: str, tag: str | None, seen_at: dt.datetime
    ) -> None:
        record_image_name(self._session, image_digest=image_digest, repository=repository, tag=tag,
                          seen_at=seen_at)

    def names(self, image_digests: Collection[str]) -> dict[str, list[ImageName]]:
        return image_names(self._session, image_digests)
