"""Java archives (jar, war, ear): ``META-INF/maven/**/pom.properties`` and ``MANIFEST.MF``.

Archives nested inside archives (``WEB-INF/lib/*.jar``, Spring Boot's
``BOOT-INF/lib``) are opened in memory up to ``max_nested_archive_depth``; the
bytes decompressed across one outer archive are bounded by
``max_binary_bytes``, which also stops zip bombs.  A package found inside a
nested archive is located as ``/app/x.war!/WEB-INF/lib/y.jar``.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import BinaryIO

from harbourmaster.supply.sbom.interface import (
    Cataloger,
    FileEntry,
    FileFindings,
    FoundPackage,
    PackageType,
    ScanLimits,
)

__all__ = ["JavaArchiveCataloger", "parse_manifest", "parse_properties"]

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear")
_POM_PROPERTIES = re.compile(r"^META-INF/maven/[^/]+/[^/]+/pom\.properties$")
_FILENAME_VERSION = re.compile(r"^(?P<name>.+?)-(?P<version>\d[\w.+\-]*)$")
_MAX_METADATA = 1024 * 1024


def parse_properties(text: str) -> dict[str, str]:
    """Java ``.properties`` lines (``key=value`` or ``key: value``; ``#``/``!`` comments)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"^([^=:\s]+)\s*[=:\s]\s*(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2).strip()
    return values


def parse_manifest(text: str) -> dict[str, str]:
    """The main section of a JAR manifest; 72-byte lines continue with a leading space."""
    values: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            break  # the main section ends at the first blank line
        if line.startswith(" ") and last:
            values[last] += line[1:]
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            values[last] = value.strip()
    return values


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit


class JavaArchiveCataloger(Cataloger):
    name = "java"
    reads_binaries = True

    def wants(self, entry: FileEntry) -> bool:
        return entry.path.lower().endswith(ARCHIVE_SUFFIXES) and not entry.is_symlink

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        data = content.read(limits.max_binary_bytes)
        packages: list[FoundPackage] = []
        warnings: list[str] = []
        self._archive(data, location=entry.path, depth=0, limits=limits,
                      budget=_Budget(limits.max_binary_bytes), packages=packages, warnings=warnings)
        return FileFindings(packages=tuple(packages), warnings=tuple(warnings))

    def _archive(self, data: bytes, *, location: str, depth: int, limits: ScanLimits, budget: _Budget,
                 packages: list[FoundPackage], warnings: list[str]) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, EOFError) as exc:
            warnings.append(f"{location}: not a readable zip archive ({exc})")
            return
        with archive:
            found_pom = False
            manifest: dict[str, str] = {}
            for info in archive.infolist():
                name = info.filename
                wanted_meta = _POM_PROPERTIES.match(name) or name == "META-INF/MANIFEST.MF"
                nested = name.lower().endswith(ARCHIVE_SUFFIXES) and not info.is_dir()
                if not (wanted_meta or nested):
                    continue
                limit = _MAX_METADATA if wanted_meta else budget.left
                if info.file_size > limit or info.file_size > budget.left:
                    warnings.append(f"{location}!/{name}: {info.file_size} bytes exceeds the "
                                    "remaining limit; skipped")
                    continue
                try:
                    with archive.open(info) as member:
                        raw = member.read(limit + 1)
                except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                    warnings.append(f"{location}!/{name}: unreadable ({exc})")
                    continue
                budget.left -= len(raw)
                if nested:
                    if depth + 1 > limits.max_nested_archive_depth:
                        warnings.append(f"{location}!/{name}: nested deeper than "
                                        f"{limits.max_nested_archive_depth} archives; skipped")
                        continue
                    self._archive(raw, location=f"{location}!/{name}", depth=depth + 1, limits=limits,
                                  budget=budget, packages=packages, warnings=warnings)
                elif name == "META-INF/MANIFEST.MF":
                    manifest = parse_manifest(raw.decode("utf-8", errors="replace"))
                else:
                    props = parse_properties(raw.decode("utf-8", errors="replace"))
                    if props.get("artifactId") and props.get("version"):
                        found_pom = True
                        packages.append(FoundPackage(
                            name=props["artifactId"], namespace=props.get("groupId", ""),
                            version=props["version"], type=PackageType.MAVEN, path=location))
            if not found_pom:
                self._from_manifest(manifest, location=location, packages=packages)

    @staticmethod
    def _from_manifest(manifest: dict[str, str], *, location: str, packages: list[FoundPackage]) -> None:
        stem = location.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        by_name = _FILENAME_VERSION.match(stem)
        version = (manifest.get("Implementation-Version") or manifest.get("Bundle-Version")
                   or (by_name.group("version") if by_name else ""))
        name = by_name.group("name") if by_name else stem
        if not version or not name:
            return
        group = manifest.get("Implementation-Vendor-Id", "")
        if not group and "." in manifest.get("Bundle-SymbolicName", ""):
            symbolic = manifest["Bundle-SymbolicName"].split(";", 1)[0].strip()
            group = symbolic.rsplit(".", 1)[0] if symbolic.endswith("." + name) else ""
        licence = manifest.get("Bundle-License", "").split(";", 1)[0].strip()
        packages.append(FoundPackage(name=name, namespace=group, version=version, type=PackageType.MAVEN,
                                     path=location, licenses=(licence,) if 0 < len(licence) <= 100 else ()))
