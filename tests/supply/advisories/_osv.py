"""Hand-written OSV records in the shapes the real exports use (GHSA, DSA/DEBIAN-CVE, USN, ALPINE)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

CVSS_CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
CVSS_HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"  # 7.5
CVSS_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:N"  # 5.4
CVSS_LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
CVSS4_HIGH = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"


def record(
    ident: str,
    ecosystem: str,
    name: str,
    *,
    events: list[dict[str, str]] | None = None,
    versions: list[str] | None = None,
    range_type: str = "ECOSYSTEM",
    modified: str = "2024-01-01T00:00:00Z",
    aliases: list[str] | None = None,
    cvss: str | None = None,
    label: str | None = None,
    withdrawn: str | None = None,
    summary: str = "",
    extra_affected: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    affected: dict[str, Any] = {"package": {"ecosystem": ecosystem, "name": name}}
    if events is not None:
        affected["ranges"] = [{"type": range_type, "events": events}]
    if versions is not None:
        affected["versions"] = versions
    out: dict[str, Any] = {
        "schema_version": "1.6.0",
        "id": ident,
        "modified": modified,
        "published": "2023-12-01T00:00:00Z",
        "aliases": aliases or [],
        "summary": summary or f"{ident} in {name}",
        "affected": [affected, *(extra_affected or [])],
    }
    if cvss:
        out["severity"] = [{"type": "CVSS_V4" if cvss.startswith("CVSS:4") else "CVSS_V3", "score": cvss}]
    if label:
        out["database_specific"] = {"severity": label}
    if withdrawn:
        out["withdrawn"] = withdrawn
    return out


def fixed_at(version: str, introduced: str = "0") -> list[dict[str, str]]:
    return [{"introduced": introduced}, {"fixed": version}]


def write_dir(root: Path, records: list[dict[str, Any]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rec in records:
        (root / f"{rec['id']}.json").write_text(json.dumps(rec))
    return root


def write_zip(path: Path, records: list[dict[str, Any]], *, junk: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for rec in records:
            archive.writestr(f"{rec['id']}.json", json.dumps(rec))
        for name, data in (junk or {}).items():
            archive.writestr(name, data)
    return path
