"""The registry repositories and tags each image digest was seen under (``sbom_image_names``).

SBOM operations on registry images record a name here; ``vulns affected``
reads them back, so an image pushed to two repositories is reported under
both.  :class:`~harbourmaster.store.sboms.SqlSbomRepository` exposes these as
``record_name`` and ``names``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from harbourmaster.store.models import SbomImageNameRow
from harbourmaster.store.values import ImageName

__all__ = ["image_names", "record_image_name"]

_CHUNK = 500


def record_image_name(session: Session, *, image_digest: str, repository: str, tag: str | None,
                      seen_at: dt.datetime) -> None:
    """Record that ``image_digest`` was seen as ``repository:tag`` (``tag`` None: by digest) at
    ``seen_at``: a new name, or a later ``last_seen`` for a known one.  One statement, safe against
    a concurrent transaction recording the same name."""
    values = {"image_digest": image_digest, "repository": repository, "tag": tag or "",
              "first_seen": seen_at, "last_seen": seen_at}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(SbomImageNameRow).values(values)
    session.execute(statement.on_conflict_do_update(
        index_elements=["image_digest", "repository", "tag"], set_={"last_seen": seen_at}))


def image_names(session: Session, image_digests: Collection[str]) -> dict[str, list[ImageName]]:
    """Every name each of ``image_digests`` was seen under, by repository then tag (digests never
    seen under a name are absent)."""
    digests = sorted(set(image_digests))
    out: dict[str, list[ImageName]] = {}
    for start in range(0, len(digests), _CHUNK):
        rows = session.scalars(
            select(SbomImageNameRow)
            .where(SbomImageNameRow.image_digest.in_(digests[start : start + _CHUNK]))
            .order_by(SbomImageNameRow.image_digest, SbomImageNameRow.repository, SbomImageNameRow.tag)
        )
        for row in rows:
            out.setdefault(row.image_digest, []).append(
                ImageName(repository=row.repository, tag=row.tag or None, first_seen=_utc(row.first_seen),
                          last_seen=_utc(row.last_seen)))
    return out


def _utc(when: dt.datetime) -> dt.datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
