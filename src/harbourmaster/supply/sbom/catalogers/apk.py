"""Alpine packages from ``/lib/apk/db/installed`` (``P:`` name, ``V:`` version, ``o:`` origin ...)."""

from __future__ import annotations

from typing import BinaryIO

from harbourmaster.supply.sbom.catalogers._text import read_text, stanzas
from harbourmaster.supply.sbom.interface import (
    Cataloger,
    FileEntry,
    FileFindings,
    FoundPackage,
    PackageType,
    ScanLimits,
)

__all__ = ["ApkCataloger", "parse_apk_installed"]

INSTALLED = "/lib/apk/db/installed"


def parse_apk_installed(text: str, *, path: str) -> tuple[list[FoundPackage], list[str]]:
    """Packages of an apk installed database, and warnings for blocks without ``P:``/``V:``."""
    packages: list[FoundPackage] = []
    warnings: list[str] = []
    for fields in stanzas(text):
        name, version = fields.get("P", ""), fields.get("V", "")
        if not name or not version:
            warnings.append("apk entry without P: (name) or V: (version); skipped")
            continue
        licence = fields.get("L", "")
        packages.append(FoundPackage(
            name=name, version=version, type=PackageType.APK, path=path, arch=fields.get("A", ""),
            source_package=fields.get("o", ""), source_version=version if fields.get("o") else "",
            licenses=(licence,) if licence else ()))
    return packages, warnings


class ApkCataloger(Cataloger):
    name = "apk"

    def wants(self, entry: FileEntry) -> bool:
        return entry.path == INSTALLED

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        packages, warnings = parse_apk_installed(read_text(content, limit=limits.max_file_bytes),
                                                 path=entry.path)
        return FileFindings(packages=tuple(packages), warnings=tuple(warnings))
