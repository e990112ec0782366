"""Ruby gems from installed gemspecs (``.../specifications/[default/]NAME-VERSION.gemspec``).

Installed gemspecs are Ruby source written by RubyGems in a fixed shape
(``s.name = "rake".freeze``); they are read, never evaluated.
"""

from __future__ import annotations

import re
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

__all__ = ["RubyGemCataloger", "parse_gemspec"]

_STRING = r"""["']([^"']*)["'](?:\.freeze)?"""
_NAME = re.compile(r"^\s*\w+\.name\s*=\s*" + _STRING, re.MULTILINE)
_VERSION = re.compile(r"^\s*\w+\.version\s*=\s*" + _STRING, re.MULTILINE)
_LICENCES = re.compile(r"^\s*\w+\.licen[sc]es?\s*=\s*\[?([^\]\n]*)\]?", re.MULTILINE)
_ITEM = re.compile(r"""["']([^"']+)["']""")
_MAX_GEMSPEC = 1024 * 1024


def parse_gemspec(text: str, *, path: str) -> FoundPackage | None:
    """The gem a gemspec declares, or ``None`` when it has no literal name and version."""
    name, version = _NAME.search(text), _VERSION.search(text)
    if not name or not version:
        return None
    licences = tuple(item for m in _LICENCES.finditer(text) for item in _ITEM.findall(m.group(1)))
    return FoundPackage(name=name.group(1), version=version.group(1), type=PackageType.GEM, path=path,
                        licenses=tuple(dict.fromkeys(licences)))


class RubyGemCataloger(Cataloger):
    name = "gem"

    def wants(self, entry: FileEntry) -> bool:
        # specifications/NAME.gemspec, and specifications/default/NAME.gemspec for default gems
        return entry.path.endswith(".gemspec") and "/specifications/" in entry.path

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        found = parse_gemspec(read_text(content, limit=min(limits.max_file_bytes, _MAX_GEMSPEC)),
                              path=entry.path)
        if found is None:
            return FileFindings(warnings=("gemspec without a literal name and version; skipped",))
        return FileFindings(packages=(found,))
