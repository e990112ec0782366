"""The advisory repository on SQLAlchemy: imported OSV advisories, their affected entries indexed by
ecosystem and package name, the import log, and the stored SBOMs' packages found affected.

An import writes in batches inside the unit of work's transaction (one import,
one transaction: all of it is written or none): one INSERT of the new
advisories, one indexed look-up for their ids, one UPDATE of the changed ones,
and one INSERT of every affected entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import String, cast, delete, distinct, func, insert, or_, select, update
from sqlalchemy.orm import Session

from harbourmaster.domain.severity import Severity
from harbourmaster.store.interface import AdvisoryRepository
from harbourmaster.store.models import (
    AdvisoryAffectedRow,
    AdvisoryMatchRow,
    AdvisoryRow,
    SbomRow,
    VulnDbImportRow,
)
from harbourmaster.store.values import (
    AdvisoryMatch,
    AdvisoryRecord,
    AffectedEntry,
    AffectedRecord,
    BatchOutcome,
    ImageMatch,
    ImportSummary,
    VulnDbStatus,
)

__all__ = ["SqlAdvisoryRepository"]

_IN_CHUNK = 500
_AFFECTED_COLUMNS = (
    AdvisoryRow.advisory_id,
    AdvisoryRow.aliases,
    AdvisoryRow.summary,
    AdvisoryRow.severity,
    AdvisoryAffectedRow.ecosystem,
    AdvisoryAffectedRow.ecosystem_key,
    AdvisoryAffectedRow.name,
    AdvisoryAffectedRow.ranges,
    AdvisoryAffectedRow.versions,
)
_RECORD_COLUMNS = (
    AdvisoryRow.id,
    AdvisoryRow.advisory_id,
    AdvisoryRow.modified,
    AdvisoryRow.published,
    AdvisoryRow.withdrawn,
    AdvisoryRow.aliases,
    AdvisoryRow.summary,
    AdvisoryRow.severity,
    AdvisoryRow.severity_source,
    AdvisoryRow.score,
)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _advisory_row(advisory: AdvisoryRecord, import_id: int) -> dict[str, Any]:
    return {
        "advisory_id": advisory.id,
        "modified": advisory.modified,
        "published": advisory.published,
        "withdrawn": advisory.withdrawn,
        "aliases": list(advisory.aliases),
        "summary": advisory.summary,
        "severity": advisory.severity.value,
        "severity_source": advisory.severity_source[:64],
        "score": advisory.score,
        "import_id": import_id,
    }


def _affected_rows(advisory: AdvisoryRecord, pk: int) -> Iterator[dict[str, Any]]:
    for entry in advisory.affected:
        yield {
            "advisory_pk": pk,
            "ecosystem": entry.ecosystem[:128],
            "ecosystem_base": entry.ecosystem_base[:64],
            "ecosystem_key": entry.ecosystem_key[:128],
            "name": entry.name[:512],
            "ranges": entry.ranges,
            "versions": list(entry.versions),
        }


def _affected_entry(row: Any) -> AffectedEntry:
    advisory_id, aliases, summary, severity, ecosystem, key, name, ranges, versions = row
    return AffectedEntry(
        advisory_id,
        aliases or [],
        summary,
        Severity(severity),
        ecosystem,
        key,
        name,
        ranges or [],
        versions or [],
    )


class SqlAdvisoryRepository(AdvisoryRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    # -- importing ------------------------------------------------------------------------------
    def begin_import(self, *, source: str, actor: str, started_at: dt.datetime) -> int:
        log = VulnDbImportRow(
            source=source[:1024],
            actor=actor[:255],
            started_at=started_at,
            finished_at=started_at,
            records=0,
            inserted=0,
            updated=0,
            unchanged=0,
            withdrawn=0,
            skipped=0,
            problems=[],
        )
        self._session.add(log)
        self._session.flush()
        return log.id

    def write_batch(self, import_id: int, advisories: Sequence[AdvisoryRecord]) -> BatchOutcome:
        session = self._session
        existing: dict[str, tuple[int, dt.datetime]] = {}
        for pk, ident, modified in session.execute(
            select(AdvisoryRow.id, AdvisoryRow.advisory_id, AdvisoryRow.modified).where(
                AdvisoryRow.advisory_id.in_([a.id for a in advisories])
            )
        ):
            existing[ident] = (pk, _utc(modified))
        new: list[AdvisoryRecord] = []
        changed: list[tuple[int, AdvisoryRecord]] = []
        unchanged = 0
        for advisory in advisories:
            old = existing.get(advisory.id)
            if old is None:
                new.append(advisory)
            elif advisory.modified > old[1]:
                changed.append((old[0], advisory))
            else:
                unchanged += 1
        affected: list[dict[str, Any]] = []
        changed_ids: list[int] = []
        if new:
            # Plain executemany, then one indexed look-up for the ids: RETURNING over executemany is
            # several times slower on SQLite (rows are spliced back one statement at a time).
            session.execute(insert(AdvisoryRow), [_advisory_row(a, import_id) for a in new])
            ids = {
                ident: pk
                for pk, ident in session.execute(
                    select(AdvisoryRow.id, AdvisoryRow.advisory_id).where(
                        AdvisoryRow.advisory_id.in_([a.id for a in new])
                    )
                )
            }
            for advisory in new:
                affected.extend(_affected_rows(advisory, ids[advisory.id]))
                changed_ids.append(ids[advisory.id])
        if changed:
            pks = [pk for pk, _ in changed]
            session.execute(delete(AdvisoryAffectedRow).where(AdvisoryAffectedRow.advisory_pk.in_(pks)))
            session.execute(
                update(AdvisoryRow), [{"id": pk, **_advisory_row(a, import_id)} for pk, a in changed]
            )
            for pk, advisory in changed:
                affected.extend(_affected_rows(advisory, pk))
            changed_ids.extend(pks)
        if affected:
            session.execute(insert(AdvisoryAffectedRow), affected)
        return BatchOutcome(
            inserted=len(new),
            updated=len(changed),
            unchanged=unchanged,
            withdrawn=sum(1 for a in new if a.withdrawn) + sum(1 for _, a in changed if a.withdrawn),
            changed=changed_ids,
        )

    def finish_import(self, import_id: int, summary: ImportSummary) -> None:
        log = self._session.get(VulnDbImportRow, import_id)
        assert log is not None, f"import {import_id} was not begun in this transaction"
        log.finished_at = summary.finished_at
        log.records = summary.records
        log.inserted = summary.inserted
        log.updated = summary.updated
        log.unchanged = summary.unchanged
        log.withdrawn = summary.withdrawn
        log.skipped = summary.skipped
        log.problems = list(summary.problems)
        self._session.flush()

    # -- reading --------------------------------------------------------------------------------
    def status(self) -> VulnDbStatus:
        session = self._session
        total = session.scalar(select(func.count()).select_from(AdvisoryRow)) or 0
        withdrawn = (
            session.scalar(
                select(func.count()).select_from(AdvisoryRow).where(AdvisoryRow.withdrawn.is_not(None))
            )
            or 0
        )
        per = {
            ecosystem: count
            for ecosystem, count in session.execute(
                select(AdvisoryAffectedRow.ecosystem, func.count(distinct(AdvisoryAffectedRow.advisory_pk)))
                .join(AdvisoryRow, AdvisoryRow.id == AdvisoryAffectedRow.advisory_pk)
                .where(AdvisoryRow.withdrawn.is_(None))
                .group_by(AdvisoryAffectedRow.ecosystem)
                .order_by(AdvisoryAffectedRow.ecosystem)
            )
        }
        imports = session.scalar(select(func.count()).select_from(VulnDbImportRow)) or 0
        last = session.scalar(select(func.max(VulnDbImportRow.finished_at)))
        newest = session.scalar(select(func.max(AdvisoryRow.modified)))
        return VulnDbStatus(
            advisories=total,
            withdrawn=withdrawn,
            per_ecosystem=per,
            imports=imports,
            last_import=None if last is None else _utc(last),
            newest_modified=None if newest is None else _utc(newest),
        )

    def generation(self) -> int | None:
        return self._session.scalar(select(func.max(VulnDbImportRow.id)))

    def affected(self, base: str, names: Collection[str]) -> Iterator[AffectedEntry]:
        ordered = sorted(names)
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start : start + _IN_CHUNK]
            for row in self._session.execute(
                select(*_AFFECTED_COLUMNS)
                .join(AdvisoryRow, AdvisoryRow.id == AdvisoryAffectedRow.advisory_pk)
                .where(
                    AdvisoryAffectedRow.ecosystem_base == base,
                    AdvisoryAffectedRow.name.in_(chunk),
                    AdvisoryRow.withdrawn.is_(None),
                )
            ):
                yield _affected_entry(row)

    def affected_by_id(self, advisory_ids: Sequence[int]) -> Iterator[AffectedEntry]:
        for start in range(0, len(advisory_ids), _IN_CHUNK):
            chunk = list(advisory_ids[start : start + _IN_CHUNK])
            for row in self._session.execute(
                select(*_AFFECTED_COLUMNS)
                .join(AdvisoryRow, AdvisoryRow.id == AdvisoryAffectedRow.advisory_pk)
                .where(AdvisoryAffectedRow.advisory_pk.in_(chunk), AdvisoryRow.withdrawn.is_(None))
            ):
                yield _affected_entry(row)

    def affected_by_name(self, name: str) -> Iterator[AffectedEntry]:
        wanted = name.strip().upper()
        if not wanted:
            return
        # Aliases are a JSON list: its text holding the quoted name narrows the rows, and the exact
        # comparison below keeps only true matches (a longer id that merely contains it is dropped).
        aliases = func.upper(cast(AdvisoryRow.aliases, String))
        for row in self._session.execute(
            select(*_AFFECTED_COLUMNS)
            .join(AdvisoryRow, AdvisoryRow.id == AdvisoryAffectedRow.advisory_pk)
            .where(
                or_(func.upper(AdvisoryRow.advisory_id) == wanted,
                    aliases.contains(f'"{wanted}"', autoescape=True)),
                AdvisoryRow.withdrawn.is_(None),
            )
            .order_by(AdvisoryAffectedRow.id)
        ):
            entry = _affected_entry(row)
            if wanted in {entry.advisory_id.upper(), *(a.upper() for a in entry.aliases)}:
                yield entry

    def records(self, *, batch_size: int = 1000) -> Iterator[AdvisoryRecord]:
        session = self._session
        last = 0
        while True:
            # Keyset pages by row id, read as plain rows (not ORM objects, which the session would
            # keep): a page of advisories and their affected entries is all that is held.
            rows = session.execute(
                select(*_RECORD_COLUMNS)
                .where(AdvisoryRow.id > last)
                .order_by(AdvisoryRow.id)
                .limit(batch_size)
            ).all()
            if not rows:
                return
            last = rows[-1][0]
            entries: dict[int, list[AffectedRecord]] = {row[0]: [] for row in rows}
            for pk, ecosystem, key, base, name, ranges, versions in session.execute(
                select(
                    AdvisoryAffectedRow.advisory_pk,
                    AdvisoryAffectedRow.ecosystem,
                    AdvisoryAffectedRow.ecosystem_key,
                    AdvisoryAffectedRow.ecosystem_base,
                    AdvisoryAffectedRow.name,
                    AdvisoryAffectedRow.ranges,
                    AdvisoryAffectedRow.versions,
                )
                .where(AdvisoryAffectedRow.advisory_pk.in_(list(entries)))
                .order_by(AdvisoryAffectedRow.id)
            ):
                entries[pk].append(
                    AffectedRecord(
                        ecosystem=ecosystem,
                        ecosystem_key=key,
                        ecosystem_base=base,
                        name=name,
                        ranges=list(ranges or []),
                        versions=tuple(versions or ()),
                    )
                )
            for pk, ident, modified, published, withdrawn, aliases, summary, severity, source, score in rows:
                yield AdvisoryRecord(
                    id=ident,
                    modified=_utc(modified),
                    published=None if published is None else _utc(published),
                    withdrawn=None if withdrawn is None else _utc(withdrawn),
                    aliases=tuple(aliases or ()),
                    summary=summary,
                    severity=Severity(severity),
                    severity_source=source,
                    score=score,
                    affected=tuple(entries[pk]),
                )

    # -- matches --------------------------------------------------------------------------------
    def add_matches(self, matches: Collection[AdvisoryMatch]) -> list[AdvisoryMatch]:
        if not matches:
            return []
        known: set[tuple[int, str, str]] = set()
        sbom_ids = sorted({m.sbom_id for m in matches})
        advisory_ids = sorted({m.advisory_id for m in matches})
        for start in range(0, len(sbom_ids), _IN_CHUNK):
            for a_start in range(0, len(advisory_ids), _IN_CHUNK):
                known.update(
                    (row[0], row[1], row[2])
                    for row in self._session.execute(
                        select(
                            AdvisoryMatchRow.sbom_id, AdvisoryMatchRow.advisory_id, AdvisoryMatchRow.purl_hash
                        ).where(
                            AdvisoryMatchRow.sbom_id.in_(sbom_ids[start : start + _IN_CHUNK]),
                            AdvisoryMatchRow.advisory_id.in_(advisory_ids[a_start : a_start + _IN_CHUNK]),
                        )
                    )
                )
        new = [m for m in matches if (m.sbom_id, m.advisory_id, m.purl_hash) not in known]
        if new:
            self._session.execute(
                insert(AdvisoryMatchRow), [{**m._asdict(), "severity": m.severity.value} for m in new]
            )
        return new

    def matches_since(self, since: dt.datetime) -> list[ImageMatch]:
        rows = self._session.execute(
            select(AdvisoryMatchRow, SbomRow.image_digest, SbomRow.image_name)
            .join(SbomRow, SbomRow.id == AdvisoryMatchRow.sbom_id)
            .where(AdvisoryMatchRow.first_seen >= since)
            .order_by(AdvisoryMatchRow.first_seen)
        ).all()
        return [
            ImageMatch(
                digest,
                name,
                AdvisoryMatch(
                    sbom_id=m.sbom_id,
                    advisory_id=m.advisory_id,
                    purl=m.purl,
                    purl_hash=m.purl_hash,
                    version=m.version,
                    severity=Severity(m.severity),
                    first_seen=_utc(m.first_seen),
                    import_id=m.import_id,
                ),
            )
            for m, digest, name in rows
        ]
