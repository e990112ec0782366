"""Distro identification from ``/etc/os-release`` or ``/usr/lib/os-release``."""

from __future__ import annotations

import posixpath
import shlex
from typing import BinaryIO

from harbourmaster.supply.sbom.catalogers._text import read_text
from harbourmaster.supply.sbom.interface import Cataloger, Distro, FileEntry, FileFindings, ScanLimits

__all__ = ["OsReleaseCataloger", "parse_os_release"]

PATHS = frozenset({"/etc/os-release", "/usr/lib/os-release"})
_LINK_DIRS = frozenset({"/etc", "/usr/lib"})


def parse_os_release(text: str) -> dict[str, str]:
    """``KEY=value`` lines with shell quoting (os-release(5)); malformed lines are ignored."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, raw = line.partition("=")
        try:
            parts = shlex.split(raw, posix=True)
        except ValueError:
            continue
        values[key.strip()] = " ".join(parts)
    return values


class OsReleaseCataloger(Cataloger):
    """Reads ``ID``, ``VERSION_ID`` and ``VERSION_CODENAME``; also follows a symlinked os-release."""

    name = "os-release"

    def wants(self, entry: FileEntry) -> bool:
        # Symlinks directly in /etc and /usr/lib are recorded too, so a chain such as
        # /etc/os-release -> ../usr/lib/os-release (Debian, Ubuntu, Fedora) can be followed.
        return entry.path in PATHS or (entry.is_symlink and posixpath.dirname(entry.path) in _LINK_DIRS)

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        values = parse_os_release(read_text(content, limit=min(limits.max_file_bytes, 1024 * 1024)))
        distro_id = values.get("ID", "").lower()
        if not distro_id:
            return FileFindings(warnings=("os-release has no ID field",))
        return FileFindings(distro=Distro(id=distro_id, version_id=values.get("VERSION_ID", ""),
                                          version_codename=values.get("VERSION_CODENAME", ""),
                                          pretty_name=values.get("PRETTY_NAME", "")))
