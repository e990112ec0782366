"""Python distributions: ``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` and ``*.egg-info`` files."""

from __future__ import annotations

from email.parser import HeaderParser
from typing import BinaryIO

from harbourmaster.supply.sbom.catalogers._text import read_text
from harbourmaster.supply.sbom.interface import (
    Cataloger,
    FileEntry,
    FileFindings,
    FoundPackage,
    PackageType,
    ScanLimits,
)

__all__ = ["PythonCataloger", "parse_core_metadata"]

_CLASSIFIER = "License :: "
_MAX_LICENSE_FIELD = 100


def _licences(headers: dict[str, list[str]]) -> tuple[str, ...]:
    expression = headers.get("license-expression", [])
    if expression:
        return (expression[0].strip(),)
    field = [v.strip() for v in headers.get("license", []) if v.strip()]
    # The License field often holds the whole licence text; only a short one-liner names a licence.
    if field and "\n" not in field[0] and len(field[0]) <= _MAX_LICENSE_FIELD and field[0] != "UNKNOWN":
        return (field[0],)
    from_classifiers = [c.split("::")[-1].strip() for c in headers.get("classifier", [])
                        if c.startswith(_CLASSIFIER) and c.count("::") >= 2]
    return tuple(dict.fromkeys(from_classifiers))


def parse_core_metadata(text: str, *, path: str) -> FoundPackage | None:
    """The distribution described by a core-metadata document, or ``None`` without Name/Version."""
    header_block = text.split("\n\n", 1)[0]
    message = HeaderParser().parsestr(header_block + "\n\n", headersonly=True)
    headers: dict[str, list[str]] = {}
    for key, value in message.items():
        headers.setdefault(key.lower(), []).append(str(value))
    name = (headers.get("name") or [""])[0].strip()
    version = (headers.get("version") or [""])[0].strip()
    if not name or not version:
        return None
    return FoundPackage(name=name, version=version, type=PackageType.PYPI, path=path,
                        licenses=_licences(headers))


class PythonCataloger(Cataloger):
    name = "python"

    def wants(self, entry: FileEntry) -> bool:
        path = entry.path
        return (path.endswith(".dist-info/METADATA") or path.endswith(".egg-info/PKG-INFO")
                or (path.endswith(".egg-info") and not entry.is_symlink))

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        found = parse_core_metadata(read_text(content, limit=limits.max_file_bytes), path=entry.path)
        if found is None:
            return FileFindings(warnings=("Python metadata without Name or Version; skipped",))
        return FileFindings(packages=(found,))
