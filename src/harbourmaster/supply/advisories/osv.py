"""OSV records: parse one (schema 1.x), and read them from a bulk export, one at a time.

OSV publishes each ecosystem as ``<ecosystem>/all.zip`` (one ``<id>.json`` per
member); mirrors unpack them into directories.  :func:`open_osv` accepts
either, a single ``.json`` file, or a directory of zips.  Records are read one
at a time, each capped at :data:`MAX_RECORD_BYTES`, so memory does not grow
with the export.

A record that is not JSON, lacks a required field, or has a malformed range is
an :class:`InvalidAdvisory` naming the file and the field; the importer skips
and counts it (or refuses the whole import in strict mode).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from harbourmaster.domain.osv_ranges import InvalidRange, OsvRange, compile_affected
from harbourmaster.domain.severity import severity_of_osv
from harbourmaster.domain.versions import InvalidVersion, VersionScheme, scheme_for
from harbourmaster.supply.advisories._zipstream import StreamingZip
from harbourmaster.supply.advisories.ecosystems import ecosystem_key, is_supported, package_name
from harbourmaster.supply.advisories.interface import (
    Advisory,
    AdvisorySource,
    AffectedPackage,
    InvalidAdvisory,
    RawRecord,
)

__all__ = [
    "MAX_RECORD_BYTES",
    "OsvDirectory",
    "OsvFile",
    "OsvRecords",
    "OsvZip",
    "open_osv",
    "parse_osv",
]

#: The largest single record read; OSV's largest real records are a few hundred KiB.
MAX_RECORD_BYTES = 16 * 1024 * 1024


def _timestamp(value: Any, *, where: str, field: str, required: bool) -> dt.datetime | None:
    if value is None:
        if required:
            raise InvalidAdvisory("is required (an RFC 3339 timestamp)", where=where, field=field)
        return None
    if not isinstance(value, str):
        raise InvalidAdvisory(
            f"must be an RFC 3339 timestamp string, not {type(value).__name__}", where=where, field=field
        )
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidAdvisory(
            f"{value[:60]!r} is not an RFC 3339 timestamp", where=where, field=field
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _strings(value: Any, *, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidAdvisory("must be a list of strings", where=where, field=field)
    return tuple(value)


def _affected(
    entry: Any, *, index: int, where: str, schemes: dict[type[VersionScheme], VersionScheme] | None
) -> AffectedPackage | str:
    """The entry, or the ecosystem name when it has no version scheme here."""
    field = f"affected[{index}]"
    if not isinstance(entry, Mapping):
        raise InvalidAdvisory("must be an object", where=where, field=field)
    package = entry.get("package")
    if not isinstance(package, Mapping):
        raise InvalidAdvisory(
            "is required (an object with ecosystem and name)", where=where, field=f"{field}.package"
        )
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not ecosystem.strip():
        raise InvalidAdvisory("must be a non-empty string", where=where, field=f"{field}.package.ecosystem")
    if not isinstance(name, str) or not name.strip():
        raise InvalidAdvisory("must be a non-empty string", where=where, field=f"{field}.package.name")
    raw_ranges = entry.get("ranges", [])
    if not isinstance(raw_ranges, list):
        raise InvalidAdvisory("must be a list", where=where, field=f"{field}.ranges")
    try:
        ranges = tuple(OsvRange.from_osv(r, where=f"{field}.ranges[{i}]") for i, r in enumerate(raw_ranges))
    except InvalidRange as exc:
        raise InvalidAdvisory(exc.message, where=where, details=exc.details) from None
    versions = _strings(entry.get("versions"), where=where, field=f"{field}.versions")
    if not is_supported(ecosystem):
        return ecosystem
    try:  # compile once now, so a record the matcher cannot use is refused here, not at scan time
        scheme = scheme_for(ecosystem)
        if schemes is not None:  # a private parse cache, so an import does not flood the shared ones
            scheme = schemes.setdefault(type(scheme), type(scheme)())
        compile_affected(ranges=ranges, versions=versions, scheme=scheme)
    except InvalidVersion as exc:
        raise InvalidAdvisory(exc.message, where=where, field=f"{field}.ranges") from None
    return AffectedPackage(
        ecosystem=ecosystem,
        ecosystem_key=ecosystem_key(ecosystem),
        name=package_name(ecosystem, name),
        ranges=ranges,
        versions=versions,
    )


def _label(data: Mapping[str, Any]) -> str | None:
    specific = data.get("database_specific")
    if isinstance(specific, Mapping) and isinstance(specific.get("severity"), str):
        return str(specific["severity"])
    for entry in data.get("affected") or ():
        if isinstance(entry, Mapping):
            for key in ("ecosystem_specific", "database_specific"):
                inner = entry.get(key)
                if isinstance(inner, Mapping) and isinstance(inner.get("severity"), str):
                    return str(inner["severity"])
    return None


def parse_osv(
    data: bytes | str | Mapping[str, Any],
    *,
    where: str,
    schemes: dict[type[VersionScheme], VersionScheme] | None = None,
) -> Advisory:
    """Parse one OSV record (its JSON text or the decoded object).

    Every range is compiled once to check it; ``schemes`` (a dict the caller owns and drops, e.g. one per
    import batch) holds the version schemes used for that, so their parse caches stay private.

    Raises:
        InvalidAdvisory: the record is not JSON, or ``id``/``modified`` is missing, or a field has the
            wrong type, or a range or version is malformed; the message names ``where`` and the field.
            An ``affected`` entry whose ecosystem harbourmaster cannot compare versions in is not an
            error: it is left out and named in :attr:`Advisory.unsupported`.
    """
    if isinstance(data, bytes | str):
        try:
            record = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidAdvisory(f"not valid JSON ({exc})", where=where) from None
    else:
        record = data
    if not isinstance(record, Mapping):
        raise InvalidAdvisory("an OSV record must be a JSON object", where=where)
    ident = record.get("id")
    if not isinstance(ident, str) or not ident.strip() or len(ident) > 256:
        raise InvalidAdvisory(
            "is required (a non-empty string of at most 256 characters)", where=where, field="id"
        )
    where = f"{where} ({ident})"
    modified = _timestamp(record.get("modified"), where=where, field="modified", required=True)
    assert modified is not None
    raw_affected = record.get("affected", [])
    if not isinstance(raw_affected, list):
        raise InvalidAdvisory("must be a list", where=where, field="affected")
    affected: list[AffectedPackage] = []
    unsupported: list[str] = []
    for index, entry in enumerate(raw_affected):
        parsed = _affected(entry, index=index, where=where, schemes=schemes)
        if isinstance(parsed, str):
            unsupported.append(parsed)
        else:
            affected.append(parsed)
    raw_severity = record.get("severity", [])
    if not isinstance(raw_severity, list):
        raise InvalidAdvisory("must be a list", where=where, field="severity")
    pairs: list[tuple[str, str]] = []
    for index, entry in enumerate(raw_severity):
        if (
            not isinstance(entry, Mapping)
            or not isinstance(entry.get("type"), str)
            or not isinstance(entry.get("score"), str)
        ):
            raise InvalidAdvisory(
                "must be an object with string type and score", where=where, field=f"severity[{index}]"
            )
        pairs.append((entry["type"], entry["score"]))
    summary = record.get("summary", "")
    if not isinstance(summary, str):
        raise InvalidAdvisory("must be a string", where=where, field="summary")
    return Advisory(
        id=ident,
        modified=modified,
        published=_timestamp(record.get("published"), where=where, field="published", required=False),
        withdrawn=_timestamp(record.get("withdrawn"), where=where, field="withdrawn", required=False),
        aliases=_strings(record.get("aliases"), where=where, field="aliases"),
        summary=summary[:1000],
        severity=severity_of_osv(pairs, label=_label(record), label_source="database_specific"),
        affected=tuple(affected),
        unsupported=tuple(dict.fromkeys(unsupported)),
    )


def _read_capped(path: Path) -> RawRecord | InvalidAdvisory:
    try:
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            return InvalidAdvisory(f"larger than {MAX_RECORD_BYTES} bytes", where=str(path))
        return RawRecord(str(path), path.read_bytes())
    except OSError as exc:
        return InvalidAdvisory(f"cannot be read ({exc.strerror})", where=str(path))


class OsvFile(AdvisorySource):
    """One ``.json`` file holding one record."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)

    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        yield _read_capped(self.path)


class OsvZip(AdvisorySource):
    """An OSV ``all.zip``: one record per ``.json`` member, read one at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)

    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        try:
            archive = StreamingZip(str(self.path))
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise InvalidAdvisory(f"not a readable zip archive ({exc})", where=str(self.path)) from None
        with archive:
            infos = archive.iter_infos()
            while True:
                try:
                    info = next(infos)
                except StopIteration:
                    return
                except (zipfile.BadZipFile, OSError, UnicodeDecodeError, struct.error) as exc:
                    raise InvalidAdvisory(
                        f"corrupt zip central directory ({exc})", where=str(self.path)
                    ) from None
                yield from self._member(archive, info)

    def _member(self, archive: StreamingZip, info: zipfile.ZipInfo) -> Iterator[RawRecord | InvalidAdvisory]:
        if info.is_dir():
            return
        where = f"{self.path}!{info.filename}"
        if not info.filename.endswith(".json"):
            yield InvalidAdvisory("not a .json member of an OSV export", where=where)
            return
        if info.file_size > MAX_RECORD_BYTES:
            yield InvalidAdvisory(f"larger than {MAX_RECORD_BYTES} bytes", where=where)
            return
        try:
            with archive.open(info) as member:
                data = member.read(MAX_RECORD_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, zlib.error) as exc:
            yield InvalidAdvisory(f"cannot be read from the archive ({exc})", where=where)
            return
        if len(data) > MAX_RECORD_BYTES:
            yield InvalidAdvisory(f"larger than {MAX_RECORD_BYTES} bytes", where=where)
            return
        yield RawRecord(where, data)


class OsvRecords(AdvisorySource):
    """Records already decoded (e.g. the body of an API request), each re-encoded one at a time."""

    def __init__(self, records: list[Any], *, description: str) -> None:
        self._records = records
        self.description = description

    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        for index, record in enumerate(self._records):
            where = f"{self.description}[{index}]"
            try:
                yield RawRecord(where, json.dumps(record).encode())
            except (TypeError, ValueError) as exc:
                yield InvalidAdvisory(f"cannot be encoded as JSON ({exc})", where=where)


class OsvDirectory(AdvisorySource):
    """A directory tree of ``.json`` records and ``.zip`` exports, walked in name order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.description = str(path)

    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        for root, dirs, files in os.walk(self.path):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if name.endswith(".json"):
                    yield _read_capped(path)
                elif name.endswith(".zip"):
                    yield from OsvZip(path).records()


def open_osv(path: str | os.PathLike[str]) -> AdvisorySource:
    """The source for ``path``: a directory, an ``all.zip``, or one ``.json`` record.

    Raises:
        InvalidAdvisory: the path does not exist or is none of those.
    """
    target = Path(path)
    if target.is_dir():
        return OsvDirectory(target)
    if target.is_file():
        if zipfile.is_zipfile(target):
            return OsvZip(target)
        if target.suffix == ".json":
            return OsvFile(target)
        raise InvalidAdvisory("is neither a zip archive nor a .json record", where=str(target))
    raise InvalidAdvisory(
        "does not exist (give a directory of OSV JSON records or an all.zip)", where=str(target)
    )
