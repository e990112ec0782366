"""Debian packages from ``/var/lib/dpkg/status`` and distroless ``/var/lib/dpkg/status.d/*``.

Which entries count as installed: ``dpkg-query -W`` lists every package the
database knows, including ``config-files`` (removed, configuration left) and
``not-installed`` entries.  An SBOM describes software present in the image,
so a package is reported when its status (the third word of ``Status:``, the
second letter of dpkg's ``db:Status-Abbrev``) says its files are on disk:
``installed`` (i), ``unpacked`` (U), ``half-configured`` (F),
``half-installed`` (H), ``triggers-awaited`` (W) or ``triggers-pending`` (t).
``config-files`` (c) and ``not-installed`` (n) are not reported.  Distroless
``status.d`` stanzas often carry no ``Status:`` and are taken as installed.
"""

from __future__ import annotations

import re
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

__all__ = ["PRESENT_STATES", "DpkgCataloger", "parse_dpkg_status"]

STATUS_FILE = "/var/lib/dpkg/status"
STATUS_DIR = "/var/lib/dpkg/status.d/"
PRESENT_STATES = frozenset({"installed", "unpacked", "half-configured", "half-installed",
                            "triggers-awaited", "triggers-pending"})
_SOURCE = re.compile(r"^(?P<name>\S+)(?:\s*\((?P<version>[^)]*)\))?\s*$")


def parse_dpkg_status(text: str, *, path: str) -> tuple[list[FoundPackage], list[str]]:
    """The present packages of a dpkg status file, and warnings for unreadable stanzas."""
    packages: list[FoundPackage] = []
    warnings: list[str] = []
    for fields in stanzas(text):
        name = fields.get("Package", "")
        if not name:
            warnings.append("dpkg stanza without a Package field; skipped")
            continue
        status = fields.get("Status", "install ok installed").split()
        if len(status) != 3:
            warnings.append(f"dpkg package {name!r} has a malformed Status; skipped")
            continue
        if status[2] not in PRESENT_STATES:
            continue
        version = fields.get("Version", "")
        source_name, source_version = "", ""
        if "Source" in fields:
            match = _SOURCE.match(fields["Source"])
            if match:
                source_name = match.group("name")
                source_version = match.group("version") or version
        packages.append(FoundPackage(
            name=name, version=version, type=PackageType.DEB, path=path,
            arch=fields.get("Architecture", ""), source_package=source_name,
            source_version=source_version))
    return packages, warnings


class DpkgCataloger(Cataloger):
    name = "dpkg"

    def wants(self, entry: FileEntry) -> bool:
        if entry.path == STATUS_FILE:
            return True
        return (entry.path.startswith(STATUS_DIR) and "/" not in entry.path[len(STATUS_DIR):]
                and not entry.path.endswith(".md5sums"))

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        text = read_text(content, limit=limits.max_file_bytes)
        packages, warnings = parse_dpkg_status(text, path=entry.path)
        return FileFindings(packages=tuple(packages), warnings=tuple(warnings))
