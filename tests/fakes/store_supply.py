"""The in-memory SBOM and advisory repositories of :class:`tests.fakes.store.MemoryStore`.

They keep the SQL store's rules: an SBOM replaces the one for the same image
digest, format and platform (its index and its recorded matches go with it); a
name's last sighting moves; an advisory replaces a stored one only when its
``modified`` is newer, and a withdrawn one stops being found; the import log's
"last import" is the newest finish (an unfinished import counts as finished
when it began); a match is recorded once per SBOM, advisory and purl.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field

from harbourmaster.store.interface import AdvisoryRepository, SbomRepository
from harbourmaster.store.values import (
    AdvisoryMatch,
    AdvisoryRecord,
    AffectedEntry,
    BatchOutcome,
    ImageMatch,
    ImageName,
    ImportSummary,
    IndexedComponent,
    SbomDocument,
    SbomImage,
    StoredComponent,
    StoredSbom,
    VulnDbStatus,
)

__all__ = ["MemoryAdvisoryRepository", "MemorySbomRepository", "SupplyTables"]


@dataclass
class _Sbom:
    stored: StoredSbom
    document: str
    components: list[IndexedComponent]


@dataclass
class _Advisory:
    record: AdvisoryRecord
    import_id: int


@dataclass
class _Import:
    source: str
    actor: str
    started_at: dt.datetime
    finished_at: dt.datetime
    summary: ImportSummary | None = None


@dataclass
class SupplyTables:
    sboms: dict[int, _Sbom] = field(default_factory=dict)
    next_sbom: int = 1
    #: (digest, repository, tag or "") -> [first_seen, last_seen]
    names: dict[tuple[str, str, str], list[dt.datetime]] = field(default_factory=dict)
    advisories: dict[int, _Advisory] = field(default_factory=dict)
    next_advisory: int = 1
    imports: dict[int, _Import] = field(default_factory=dict)
    next_import: int = 1
    matches: list[AdvisoryMatch] = field(default_factory=list)


def _newest_first(sbom: _Sbom) -> tuple[dt.datetime, int]:
    return sbom.stored.created_at, sbom.stored.id


class MemorySbomRepository(SbomRepository):
    def __init__(self, tables: SupplyTables) -> None:
        self._t = tables

    def replace(self, sbom: SbomDocument, *, created_at: dt.datetime) -> StoredSbom:
        t = self._t
        for sbom_id, old in list(t.sboms.items()):
            s = old.stored
            if (s.image_digest, s.format, s.platform) == (sbom.image_digest, sbom.format, sbom.platform):
                del t.sboms[sbom_id]
                t.matches = [m for m in t.matches if m.sbom_id != sbom_id]
        stored = StoredSbom(
            t.next_sbom,
            sbom.image_digest,
            sbom.image_name,
            sbom.platform,
            sbom.format,
            sbom.distro,
            sbom.origin,
            len(sbom.components),
            created_at,
        )
        t.sboms[stored.id] = _Sbom(stored, sbom.document, list(sbom.components))
        t.next_sbom += 1
        return stored

    def _ordered(self, image_digest: str | None = None) -> list[_Sbom]:
        found = [s for s in self._t.sboms.values() if image_digest in (None, s.stored.image_digest)]
        return sorted(found, key=_newest_first, reverse=True)

    def stored(self, *, image_digest: str | None = None) -> list[StoredSbom]:
        return [s.stored for s in self._ordered(image_digest)]

    def newest(self, *, image_digest: str, format: str | None = None) -> tuple[StoredSbom, str] | None:
        found = [s for s in self._ordered(image_digest) if format in (None, s.stored.format)]
        return (found[0].stored, found[0].document) if found else None

    def document(self, sbom_id: int) -> str | None:
        sbom = self._t.sboms.get(sbom_id)
        return None if sbom is None else sbom.document

    def indexed(self, sbom_id: int) -> list[IndexedComponent]:
        sbom = self._t.sboms.get(sbom_id)
        return [] if sbom is None else list(sbom.components)

    def components(
        self, purl_type: str, name: str, *, namespace: str | None = None, source_package: str | None = None
    ) -> list[StoredComponent]:
        by_name: list[StoredComponent] = []
        by_source: list[StoredComponent] = []
        for sbom_id in sorted(self._t.sboms):
            for c in self._t.sboms[sbom_id].components:
                if c.purl_type != purl_type:
                    continue
                stored = StoredComponent(sbom_id, c.purl, c.purl_type, c.namespace, c.name, c.version,
                                         c.source_package, c.source_version, c.distro)
                if c.name == name and namespace in (None, c.namespace):
                    by_name.append(stored)
                elif source_package is not None and c.source_package == source_package:
                    by_source.append(stored)
        seen = {(c.sbom_id, c.purl) for c in by_name}
        return by_name + [c for c in by_source if (c.sbom_id, c.purl) not in seen]

    def images(self, sbom_ids: Collection[int]) -> list[SbomImage]:
        return [
            SbomImage(i, self._t.sboms[i].stored.image_digest, self._t.sboms[i].stored.image_name)
            for i in sorted(set(sbom_ids))
            if i in self._t.sboms
        ]

    def record_name(
        self, *, image_digest: str, repository: str, tag: str | None, seen_at: dt.datetime
    ) -> None:
        seen = self._t.names.setdefault((image_digest, repository, tag or ""), [seen_at, seen_at])
        seen[1] = seen_at

    def names(self, image_digests: Collection[str]) -> dict[str, list[ImageName]]:
        wanted = set(image_digests)
        out: dict[str, list[ImageName]] = {}
        for (digest, repository, tag), (first, last) in sorted(self._t.names.items()):
            if digest in wanted:
                out.setdefault(digest, []).append(
                    ImageName(repository=repository, tag=tag or None, first_seen=first, last_seen=last)
                )
        return out


def _affected(advisory: AdvisoryRecord) -> Iterator[AffectedEntry]:
    # Truncated as the SQL columns are.
    for entry in advisory.affected:
        yield AffectedEntry(
            advisory.id,
            list(advisory.aliases),
            advisory.summary,
            advisory.severity,
            entry.ecosystem[:128],
            entry.ecosystem_key[:128],
            entry.name[:512],
            list(entry.ranges),
            list(entry.versions),
        )


class MemoryAdvisoryRepository(AdvisoryRepository):
    def __init__(self, tables: SupplyTables) -> None:
        self._t = tables

    def begin_import(self, *, source: str, actor: str, started_at: dt.datetime) -> int:
        t = self._t
        import_id = t.next_import
        t.next_import += 1
        t.imports[import_id] = _Import(source[:1024], actor[:255], started_at, started_at)
        return import_id

    def write_batch(self, import_id: int, advisories: Sequence[AdvisoryRecord]) -> BatchOutcome:
        t = self._t
        by_id = {a.record.id: pk for pk, a in t.advisories.items()}
        inserted = updated = unchanged = withdrawn = 0
        changed: list[int] = []
        for advisory in advisories:
            pk = by_id.get(advisory.id)
            if pk is None:
                pk = t.next_advisory
                t.next_advisory += 1
                by_id[advisory.id] = pk
                inserted += 1
            elif advisory.modified > t.advisories[pk].record.modified:
                updated += 1
            else:
                unchanged += 1
                continue
            t.advisories[pk] = _Advisory(advisory, import_id)
            changed.append(pk)
            withdrawn += advisory.withdrawn is not None
        return BatchOutcome(
            inserted=inserted, updated=updated, unchanged=unchanged, withdrawn=withdrawn, changed=changed
        )

    def finish_import(self, import_id: int, summary: ImportSummary) -> None:
        log = self._t.imports[import_id]
        log.finished_at = summary.finished_at
        log.summary = summary

    def status(self) -> VulnDbStatus:
        t = self._t
        live = [a.record for a in t.advisories.values() if a.record.withdrawn is None]
        per: dict[str, set[str]] = {}
        for record in live:
            for entry in record.affected:
                per.setdefault(entry.ecosystem[:128], set()).add(record.id)
        records = [a.record for a in t.advisories.values()]
        return VulnDbStatus(
            advisories=len(records),
            withdrawn=len(records) - len(live),
            per_ecosystem={ecosystem: len(ids) for ecosystem, ids in sorted(per.items())},
            imports=len(t.imports),
            last_import=max((i.finished_at for i in t.imports.values()), default=None),
            newest_modified=max((r.modified for r in records), default=None),
        )

    def generation(self) -> int | None:
        return max(self._t.imports, default=None)

    def affected(self, base: str, names: Collection[str]) -> Iterator[AffectedEntry]:
        wanted = set(names)
        for pk in sorted(self._t.advisories):
            record = self._t.advisories[pk].record
            if record.withdrawn is not None:
                continue
            for entry, found in zip(record.affected, _affected(record), strict=True):
                if entry.ecosystem_base[:64] == base and found.name in wanted:
                    yield found

    def affected_by_id(self, advisory_ids: Sequence[int]) -> Iterator[AffectedEntry]:
        for pk in advisory_ids:
            advisory = self._t.advisories.get(pk)
            if advisory is not None and advisory.record.withdrawn is None:
                yield from _affected(advisory.record)

    def affected_by_name(self, name: str) -> Iterator[AffectedEntry]:
        wanted = name.strip().upper()
        for pk in sorted(self._t.advisories):
            record = self._t.advisories[pk].record
            names = {record.id.upper(), *(a.upper() for a in record.aliases)}
            if record.withdrawn is None and wanted in names:
                yield from _affected(record)

    def records(self, *, batch_size: int = 1000) -> Iterator[AdvisoryRecord]:
        for pk in sorted(self._t.advisories):
            yield self._t.advisories[pk].record

    def add_matches(self, matches: Collection[AdvisoryMatch]) -> list[AdvisoryMatch]:
        known = {(m.sbom_id, m.advisory_id, m.purl_hash) for m in self._t.matches}
        new = []
        for match in matches:
            key = (match.sbom_id, match.advisory_id, match.purl_hash)
            if key not in known:
                known.add(key)
                new.append(match)
        self._t.matches.extend(new)
        return new

    def matches_since(self, since: dt.datetime) -> list[ImageMatch]:
        sboms = self._t.sboms
        found = [m for m in self._t.matches if m.first_seen >= since and m.sbom_id in sboms]
        return [
            ImageMatch(sboms[m.sbom_id].stored.image_digest, sboms[m.sbom_id].stored.image_name, m)
            for m in sorted(found, key=lambda m: m.first_seen)
        ]
