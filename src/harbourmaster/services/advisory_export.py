"""The advisory database written back out as OSV records (``airgap export --advisories``).

The store keeps advisories normalised (:class:`~harbourmaster.store.values.AdvisoryRecord`), not the
OSV JSON they came from.  :func:`osv_document` rebuilds a record that ``vulndb import`` reads back to
the same stored advisory: the same id, aliases, summary, ``modified``/``published``/``withdrawn``,
affected packages (ecosystem as given, indexed name, ranges and versions) and the same severity,
score and severity source, because the severity is written in the form the importer derived it from:

* from a CVSS vector: a vector of the same CVSS version with exactly the stored base score
  (:func:`~harbourmaster.domain.cvss_vectors.vector_for_score`: representative, not the advisory's
  own vector, which the store does not keep);
* from ``database_specific.severity``: that label again;
* from a ``severity[]`` entry of another type (``UBUNTU``): an entry of that type with the label;
* no severity: none.

A CVSS score no vector of its version reaches (none is known) falls back to the label, so the
severity still matches but the score is lost; such records are counted as ``approximated``.

:func:`write_osv_zip` streams the records into one ``osv.zip`` (an ``all.zip`` as OSV publishes it: one
``<id>.json`` member per record), one record at a time.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harbourmaster.domain.cvss_vectors import vector_for_score
from harbourmaster.domain.severity import Severity
from harbourmaster.store.values import AdvisoryRecord

__all__ = ["OSV_SCHEMA_VERSION", "OsvExport", "osv_document", "write_osv_zip"]

OSV_SCHEMA_VERSION: Final = "1.6.0"
_CVSS_SOURCES: Final = frozenset({"CVSS_V2", "CVSS_V3", "CVSS_V4"})
#: What the importer calls a severity read from ``database_specific.severity``.
_LABEL_SOURCE: Final = "database_specific"


@dataclass(frozen=True, kw_only=True)
class OsvExport:
    """What :func:`write_osv_zip` wrote: the records, and how many lost their CVSS score."""

    records: int
    approximated: int


def _time(value: dt.datetime) -> str:
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return utc.isoformat().replace("+00:00", "Z")


def _severity(record: AdvisoryRecord, document: dict[str, Any]) -> bool:
    """Write ``record``'s severity into ``document``; False when only the label could be kept."""
    if record.severity is Severity.UNKNOWN:
        return True
    source = record.severity_source
    if source in _CVSS_SOURCES:
        vector = vector_for_score(source, record.score) if record.score is not None else None
        if vector is not None:
            document["severity"] = [{"type": source, "score": vector}]
            return True
        document["database_specific"] = {"severity": record.severity.value}
        return False
    if source == _LABEL_SOURCE:
        document["database_specific"] = {"severity": record.severity.value}
    else:
        document["severity"] = [{"type": source, "score": record.severity.value}]
    return True


def osv_document(record: AdvisoryRecord) -> tuple[dict[str, Any], bool]:
    """``record`` as an OSV record, and whether its severity round-trips exactly (see the module)."""
    document: dict[str, Any] = {
        "schema_version": OSV_SCHEMA_VERSION,
        "id": record.id,
        "modified": _time(record.modified),
        "aliases": list(record.aliases),
        "summary": record.summary,
        "affected": [
            {
                "package": {"ecosystem": entry.ecosystem, "name": entry.name},
                "ranges": entry.ranges,
                "versions": list(entry.versions),
            }
            for entry in record.affected
        ],
    }
    if record.published is not None:
        document["published"] = _time(record.published)
    if record.withdrawn is not None:
        document["withdrawn"] = _time(record.withdrawn)
    exact = _severity(record, document)
    return document, exact


def _member(ident: str) -> str:
    # OSV ids are [A-Za-z0-9-._:]; anything else (a path separator above all) is replaced.
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in ident)
    return f"{safe}.json"


def write_osv_zip(records: Iterable[AdvisoryRecord], path: Path) -> OsvExport:
    """Write ``records`` to the zip ``path``, one ``<id>.json`` member each, as they are read.

    Raises:
        OSError: ``path`` cannot be written.
    """
    count = approximated = 0
    seen: set[str] = set()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for record in records:
            document, exact = osv_document(record)
            name = _member(record.id)
            if name in seen:  # two ids that differ only in replaced characters
                name = f"{name[:-5]}.{count}.json"
            seen.add(name)
            archive.writestr(name, json.dumps(document, sort_keys=True, ensure_ascii=False))
            count += 1
            approximated += not exact
    return OsvExport(records=count, approximated=approximated)
