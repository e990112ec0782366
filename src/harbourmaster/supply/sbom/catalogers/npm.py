"""npm packages: ``package.json`` of real packages directly inside a ``node_modules`` directory.

Only ``.../node_modules/NAME/package.json`` and
``.../node_modules/@SCOPE/NAME/package.json`` count; ``package.json`` files deeper
inside a package (test fixtures, sub-builds) are not packages npm installed.
"""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

from harbourmaster.supply.sbom.interface import (
    Cataloger,
    FileEntry,
    FileFindings,
    FoundPackage,
    PackageType,
    ScanLimits,
)

__all__ = ["NpmCataloger", "parse_package_json"]

_PACKAGE_JSON = re.compile(r"/node_modules/(?:@[^/@]+/)?[^/@.][^/]*/package\.json$")
_MAX_PACKAGE_JSON = 4 * 1024 * 1024


def _licences(doc: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    licence = doc.get("license")
    if isinstance(licence, str) and licence.strip():
        out.append(licence.strip())
    elif isinstance(licence, dict) and isinstance(licence.get("type"), str):
        out.append(licence["type"])
    for item in doc.get("licenses") or [] if isinstance(doc.get("licenses"), list) else []:
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            out.append(item["type"])
        elif isinstance(item, str):
            out.append(item)
    return tuple(dict.fromkeys(out))


def parse_package_json(data: bytes, *, path: str) -> tuple[FoundPackage | None, str]:
    """The package a ``package.json`` declares, or ``(None, reason)``."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"package.json is not valid JSON ({exc})"
    if not isinstance(doc, dict):
        return None, "package.json is not a JSON object"
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return None, "package.json without name or version; skipped"
    namespace, _, short = name.rpartition("/")
    return FoundPackage(name=short, namespace=namespace, version=version, type=PackageType.NPM,
                        path=path, licenses=_licences(doc)), ""


class NpmCataloger(Cataloger):
    name = "npm"

    def wants(self, entry: FileEntry) -> bool:
        return entry.path.endswith("/package.json") and bool(_PACKAGE_JSON.search(entry.path))

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        found, reason = parse_package_json(content.read(min(limits.max_file_bytes, _MAX_PACKAGE_JSON)),
                                           path=entry.path)
        return FileFindings(packages=(found,)) if found else FileFindings(warnings=(reason,))
