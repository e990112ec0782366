"""RPM packages from the sqlite rpmdb of current RHEL-family, Fedora, SUSE and Amazon Linux images.

The database is copied into a private temporary directory (sqlite needs a
file) and opened read-only; each ``Packages.blob`` is an RPM header parsed by
:mod:`._rpmheader`.  BerkeleyDB (``/var/lib/rpm/Packages``) and NDB
(``Packages.db``) databases are reported as unsupported warnings.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import BinaryIO

from harbourmaster.supply.sbom.catalogers._rpmheader import RpmHeaderError, parse_header
from harbourmaster.supply.sbom.interface import (
    Cataloger,
    FileEntry,
    FileFindings,
    FoundPackage,
    PackageType,
    ScanLimits,
)

__all__ = ["RpmCataloger", "packages_from_rpmdb", "split_source_rpm"]

SQLITE_PATHS = frozenset({"/var/lib/rpm/rpmdb.sqlite", "/usr/lib/sysimage/rpm/rpmdb.sqlite"})
LEGACY_PATHS = {"/var/lib/rpm/Packages": "BerkeleyDB", "/usr/lib/sysimage/rpm/Packages": "BerkeleyDB",
                "/var/lib/rpm/Packages.db": "NDB", "/usr/lib/sysimage/rpm/Packages.db": "NDB"}


def split_source_rpm(sourcerpm: str) -> tuple[str, str]:
    """``openssl-3.0.7-2.el9.src.rpm`` → ``("openssl", "3.0.7-2.el9")``; ``("", "")`` if not of that form."""
    stem = sourcerpm.removesuffix(".rpm")
    stem = stem.rsplit(".", 1)[0] if stem.endswith((".src", ".nosrc")) else stem
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"


def packages_from_rpmdb(db_file: Path, *, path: str) -> tuple[list[FoundPackage], list[str]]:
    """Packages in a sqlite rpmdb at ``db_file`` (reported as found at ``path``)."""
    packages: list[FoundPackage] = []
    warnings: list[str] = []
    uri = f"{db_file.as_uri()}?mode=ro&immutable=1"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as conn:
            rows = conn.execute("SELECT hnum, blob FROM Packages")
            for hnum, blob in rows:
                try:
                    tags = parse_header(bytes(blob))
                except RpmHeaderError as exc:
                    warnings.append(f"rpm header {hnum}: {exc}; skipped")
                    continue
                name = str(tags.get("NAME", ""))
                if not name or "VERSION" not in tags:
                    warnings.append(f"rpm header {hnum} has no NAME or VERSION; skipped")
                    continue
                version = str(tags["VERSION"])
                if "RELEASE" in tags:
                    version = f"{version}-{tags['RELEASE']}"
                source, source_version = split_source_rpm(str(tags.get("SOURCERPM", "")))
                licence = str(tags.get("LICENSE", ""))
                packages.append(FoundPackage(
                    name=name, version=version, type=PackageType.RPM, path=path,
                    arch=str(tags.get("ARCH", "")), epoch=str(tags["EPOCH"]) if "EPOCH" in tags else "",
                    source_package=source, source_version=source_version,
                    licenses=(licence,) if licence else ()))
    except sqlite3.Error as exc:
        warnings.append(f"rpmdb is not a readable sqlite database ({exc})")
    return packages, warnings


class RpmCataloger(Cataloger):
    name = "rpm"

    def wants(self, entry: FileEntry) -> bool:
        return entry.path in SQLITE_PATHS or entry.path in LEGACY_PATHS

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        if entry.path in LEGACY_PATHS:
            return FileFindings(warnings=(f"{LEGACY_PATHS[entry.path]} rpmdb is unsupported; "
                                          "its packages are not reported",))
        with tempfile.TemporaryDirectory(prefix="hm-rpmdb-") as tmp:
            db_file = Path(tmp) / "rpmdb.sqlite"
            with db_file.open("wb") as out:
                shutil.copyfileobj(content, out, 1024 * 1024)
            packages, warnings = packages_from_rpmdb(db_file, path=entry.path)
        return FileFindings(packages=tuple(packages), warnings=tuple(warnings))
