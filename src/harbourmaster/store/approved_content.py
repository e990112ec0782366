"""The approved content repository on SQLAlchemy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbourmaster.store.approved_content_interface import ApprovedContentRepository, ApprovedImage
from harbourmaster.store.models import ApprovedContentRow

__all__ = ["SqlApprovedContentRepository"]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps the wall time without its zone: every stamp is written in UTC so they compare.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class SqlApprovedContentRepository(ApprovedContentRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, images: Sequence[ApprovedImage]) -> None:
        for image in images:
            row = self._session.scalars(
                select(ApprovedContentRow).where(
                    ApprovedContentRow.registry_name == image.registry,
                    ApprovedContentRow.repository == image.repository,
                    ApprovedContentRow.digest == image.digest,
                )
            ).one_or_none()
            values = {
                "registry_name": image.registry,
                "repository": image.repository,
                "digest": image.digest,
                "tags": list(image.tags),
                "bundle_sha256": image.bundle_sha256,
                "imported_by": image.imported_by,
                "imported_at": _utc(image.imported_at),
                "emergency": image.emergency,
                "reason": image.reason,
            }
            if row is None:
                self._session.add(ApprovedContentRow(**values))
            else:
                for key, value in values.items():
                    setattr(row, key, value)
        self._session.flush()

    def approved_among(self, wanted: Collection[tuple[str, str]]) -> frozenset[tuple[str, str]]:
        if not wanted:
            return frozenset()
        registries = sorted({registry for registry, _ in wanted})
        digests = sorted({digest for _, digest in wanted})
        found: set[tuple[str, str]] = set()
        # Bounded IN lists: a verdict names at most HARBOURMASTER_MAX_DECISION_IMAGES digests.
        for start in range(0, len(digests), 500):
            rows = self._session.execute(
                select(ApprovedContentRow.registry_name, ApprovedContentRow.digest)
                .where(
                    ApprovedContentRow.registry_name.in_(registries),
                    ApprovedContentRow.digest.in_(digests[start : start + 500]),
                )
                .distinct()
            )
            found.update((registry, digest) for registry, digest in rows)
        return frozenset(pair for pair in wanted if pair in found)

    def registries_with_content(self) -> frozenset[str]:
        return frozenset(self._session.scalars(select(ApprovedContentRow.registry_name).distinct()))

    def approved(self, registry: str) -> list[ApprovedImage]:
        rows = self._session.scalars(
            select(ApprovedContentRow)
            .where(ApprovedContentRow.registry_name == registry)
            .order_by(ApprovedContentRow.repository, ApprovedContentRow.digest)
        )
        return [
            ApprovedImage(
                registry=row.registry_name,
                repository=row.repository,
                digest=row.digest,
                tags=tuple(row.tags),
                bundle_sha256=row.bundle_sha256,
                imported_by=row.imported_by,
                imported_at=_utc(row.imported_at),
                emergency=row.emergency,
                reason=row.reason,
            )
            for row in rows
        ]
