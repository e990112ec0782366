"""Vulnerability services: import advisories, report the database's state, correlate new advisories
with stored SBOMs, and list newly affected images.  Scanning and judging images is
:mod:`harbourmaster.services.scans`, over this module's :func:`advisory_index`.

Every surface calls these, and each answers with its model from
:mod:`harbourmaster.services.supply_results`.  Newly affected images are announced through the
core's notifier (``hm.notifier``: the webhook of ``HARBOURMASTER_VULN_WEBHOOK_URL``, chosen by the
composition root).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.durations import MAX_WINDOW, parse_duration
from harbourmaster.errors import BadInput
from harbourmaster.notify.interface import Notification
from harbourmaster.services.advisories import ImportReport, StoredAdvisoryIndex, import_advisories
from harbourmaster.services.audit import AuditEvent
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.correlation import NewlyAffected, correlate_changed
from harbourmaster.services.image_scans import refresh_scans
from harbourmaster.services.supply_results import (
    AffectedImagePublic,
    AffectedRepositoryPublic,
    ImportReportPublic,
    NewlyAffectedPublic,
    VulnDbStatusPublic,
    VulnImportPublic,
)
from harbourmaster.supply.advisories import AdvisorySource, open_osv

__all__ = [
    "NEWLY_AFFECTED_EVENT",
    "VulnImport",
    "advisory_index",
    "affected_since",
    "import_vulndb",
    "parse_since",
    "vulndb_state",
]

#: The event each newly affected image is announced as.
NEWLY_AFFECTED_EVENT = "image.newly-affected"
_INDEXES: weakref.WeakKeyDictionary[Harbourmaster, StoredAdvisoryIndex] = weakref.WeakKeyDictionary()


def advisory_index(hm: Harbourmaster) -> StoredAdvisoryIndex:
    """The core's advisory index (one per core, so its compiled cache is shared by every scan)."""
    index = _INDEXES.get(hm)
    if index is None:
        index = _INDEXES[hm] = StoredAdvisoryIndex(hm.store)
    return index


@dataclass(slots=True, kw_only=True)
class VulnImport:
    """An import's report, the images it newly affects, and what became of their notifications (one line
    per webhook call: ``<digest>: HTTP 204``, ``<digest>: failed (ConnectError)``)."""

    report: ImportReport
    newly_affected: list[NewlyAffected] = field(default_factory=list)
    webhook: list[str] = field(default_factory=list)
    #: Seconds spent importing, finding newly affected images, and notifying (audit and webhook).
    timings: dict[str, float] = field(default_factory=dict)


def _notify(hm: Harbourmaster, affected: Sequence[NewlyAffected], import_id: int) -> list[str]:
    """Announce each newly affected image through the core's notifier; a line per delivery."""
    if not affected:
        return []
    deliveries = hm.notifier.send(
        [
            Notification(
                event=NEWLY_AFFECTED_EVENT,
                subject=image.image_digest,
                payload={
                    "import_id": import_id,
                    **NewlyAffectedPublic.model_validate(image).model_dump(mode="json"),
                },
            )
            for image in affected
        ]
    )
    return [str(d) for d in deliveries]


def import_vulndb(
    hm: Harbourmaster,
    principal: Principal,
    *,
    path: str | os.PathLike[str] | None = None,
    source: AdvisorySource | None = None,
    strict: bool = False,
    correlate: bool = True,
) -> VulnImportPublic:
    """Import OSV records from ``path`` (a directory, an ``all.zip`` or a ``.json`` record) or ``source``,
    in one transaction, audited; then find the stored SBOMs the new or changed advisories newly affect,
    audit each and announce it through ``hm.notifier`` (:data:`NEWLY_AFFECTED_EVENT`).

    Raises:
        Forbidden: the principal may not write the advisory database.
        InvalidAdvisory: the path is missing or unusable, or (``strict``) a record is malformed; then
            nothing is written.
    """
    require(principal, Permission.VULNDB_WRITE)
    if source is None:
        if path is None:
            raise BadInput("give a path to import")
        source = open_osv(path)
    started = time.perf_counter()
    with hm.store.transaction() as tx:
        report = import_advisories(
            tx.advisories, source, actor=principal.audit_name, clock=hm.clock, strict=strict
        )
        tx.audit.append(
            actor=principal.audit_name,
            action="vulndb.import",
            target=source.description,
            result="ok" if not report.skipped else "partial",
            details=ImportReportPublic.of_report(report).model_dump(mode="json", exclude={"problems"})
            | {"problems": report.problems[:10]},
        )
    result = VulnImport(report=report, timings={"import": time.perf_counter() - started})
    if correlate and report.changed:
        now = hm.clock.now()
        # One transaction: the (image, advisory) pairs are recorded only with their audit records, so a
        # failure leaves them to be found again by the next import.
        with hm.store.transaction() as tx:
            started = time.perf_counter()
            result.newly_affected = correlate_changed(tx, report.changed, import_id=report.import_id, now=now)
            result.timings["correlate"] = time.perf_counter() - started
            started = time.perf_counter()
            tx.audit.append_many(
                [
                    AuditEvent(
                        actor=principal.audit_name,
                        action="vuln.newly-affected",
                        target=image.image_name,
                        result="affected",
                        details={
                            "digest": image.image_digest,
                            "import_id": report.import_id,
                            "advisories": sorted({a["id"] for a in image.advisories}),
                        },
                    )
                    for image in result.newly_affected
                ],
            )
        result.timings["audit"] = time.perf_counter() - started
        # The kept scans of the newly affected digests are rescanned now, so the next verdict on each
        # sees the new finding (the verdict judges the kept scan).
        started = time.perf_counter()
        refresh_scans(hm, [image.image_digest for image in result.newly_affected], actor=principal.audit_name)
        result.timings["rescan"] = time.perf_counter() - started
        started = time.perf_counter()
        result.webhook = _notify(hm, result.newly_affected, report.import_id)
        result.timings["notify"] = time.perf_counter() - started
    return VulnImportPublic.of(result)


def vulndb_state(hm: Harbourmaster, principal: Principal) -> VulnDbStatusPublic:
    """Counts per ecosystem, the last import time and the newest ``modified``.

    Raises:
        Forbidden: the principal may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.store.read() as tx:
        return VulnDbStatusPublic.of(tx.advisories.status())


@overload
def parse_since(text: str) -> dt.datetime | dt.timedelta: ...
@overload
def parse_since(text: str, *, now: dt.datetime) -> dt.datetime: ...
def parse_since(text: str, *, now: dt.datetime | None = None) -> dt.datetime | dt.timedelta:
    """``2026-01-31``, ``2026-01-31T12:00:00Z`` (a UTC moment), or a duration back from now (``30m``,
    ``24h``, ``7d``): the moment that long before ``now`` or, without ``now``, the duration itself, which
    :func:`affected_since` counts back from the core's clock.

    Raises:
        BadInput: none of those forms, or a duration longer than 100 years.
    """
    value = text.strip()
    if len(value) >= 2 and value[-1] in "mhdw" and value[:-1].isdigit():
        ago = parse_duration(value, field="--since", maximum=MAX_WINDOW, units="mhdw")
        return ago if now is None else now - ago
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(
            f"--since: {text!r} is neither a date/time (2026-01-31, 2026-01-31T12:00:00Z) "
            "nor a duration (30m, 24h, 7d, 2w)"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def affected_since(
    hm: Harbourmaster, principal: Principal, *, since: dt.datetime | dt.timedelta
) -> list[AffectedImagePublic]:
    """Image digests found newly affected by an advisory at or after ``since`` (a moment, or how long
    before ``hm.clock.now()``), newest first, each with every registry repository and tag it was seen
    under (one entry per digest, however many SBOMs of it, in other formats, are stored).

    Raises:
        Forbidden: the principal may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if isinstance(since, dt.timedelta):
        since = hm.clock.now() - since
    images: dict[str, tuple[str, dt.datetime, dict[tuple[str, str], dict[str, str]]]] = {}
    with hm.store.read() as tx:
        found = tx.advisories.matches_since(since)
        names = tx.sboms.names({image_digest for image_digest, _, _ in found})
    for image_digest, image_name, match in found:
        entry = images.setdefault(image_digest, (image_name, match.first_seen, {}))
        entry[2].setdefault(
            (match.advisory_id, match.purl),
            {
                "id": match.advisory_id,
                "purl": match.purl,
                "version": match.version,
                "severity": match.severity.value,
            },
        )
    out: list[tuple[dt.datetime, AffectedImagePublic]] = []
    for digest, (name, first, advisories) in images.items():
        tags: dict[str, list[str]] = {}
        for seen in names.get(digest, []):
            tags.setdefault(seen.repository, [])
            if seen.tag:
                tags[seen.repository].append(seen.tag)
        repositories = [
            AffectedRepositoryPublic(repository=repo, tags=sorted(t)) for repo, t in sorted(tags.items())
        ]
        public = AffectedImagePublic(
            image_name=name,
            image_digest=digest,
            repositories=repositories,
            first_seen=first.isoformat(),
            advisories=list(advisories.values()),
        )
        out.append((first, public))
    # By the moment itself, newest first (the ISO text of moments in other offsets does not sort).
    out.sort(key=lambda pair: pair[0], reverse=True)
    return [public for _, public in out]
