"""The image scans kept for the verdict, in SQL (see
:class:`~harbourmaster.store.scan_interface.ScanRepository`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbourmaster.domain.findings import Finding
from harbourmaster.store.models import ImageScanRow
from harbourmaster.store.scan_interface import ScanRepository
from harbourmaster.store.values import StoredScan

__all__ = ["SqlScanRepository"]

#: Digests looked up per query (bound parameters stay well under every database's limit).
_CHUNK = 500


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _scan(row: ImageScanRow) -> StoredScan:
    return StoredScan(
        image_digest=row.image_digest,
        image_name=row.image_name,
        scanned_at=_aware(row.scanned_at),
        components=row.components,
        findings=tuple(Finding.from_dict(f) for f in row.findings),
        origin=row.origin,
    )


class SqlScanRepository(ScanRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, scan: StoredScan) -> None:
        row = self._session.scalars(
            select(ImageScanRow).where(ImageScanRow.image_digest == scan.image_digest)
        ).one_or_none()
        if row is None:
            row = ImageScanRow(image_digest=scan.image_digest)
            self._session.add(row)
        row.image_name = scan.image_name
        row.scanned_at = scan.scanned_at
        row.components = scan.components
        row.findings = [f.matched().as_dict() for f in scan.findings]
        row.origin = scan.origin
        self._session.flush()

    def latest(self, digests: Collection[str]) -> dict[str, StoredScan]:
        wanted = sorted(set(digests))
        out: dict[str, StoredScan] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for row in self._session.scalars(
                select(ImageScanRow).where(ImageScanRow.image_digest.in_(chunk))
            ):
                out[row.image_digest] = _scan(row)
        return out

    def digests(self, *, limit: int, after: str | None = None) -> list[str]:
        query = select(ImageScanRow.image_digest).order_by(ImageScanRow.image_digest).limit(limit)
        if after is not None:
            query = query.where(ImageScanRow.image_digest > after)
        return list(self._session.scalars(query))
