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


CVSS2_HIGH = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5
CVSS30_MEDIUM = "CVSS:3.0/AV:N/AC:H/PR:N/UI:R/S:C/C:L/I:L/A:N"
CVSS4_THREAT = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:U"


def every_shape() -> list[dict[str, Any]]:
    """Records in every shape the importer keeps: each severity source, withdrawn, several affected
    entries, versions lists, distro releases, PyPI names, every range event."""
    typed_label = record("USN-1-1", "Ubuntu:22.04:LTS", "openssl", events=fixed_at("3.0.2-0ubuntu1.10"))
    typed_label["severity"] = [{"type": "Ubuntu", "score": "medium"}]
    bad_vector = record("GHSA-bad", "npm", "left-pad", events=fixed_at("1.3.0"), label="moderate")
    bad_vector["severity"] = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:X"}]
    v2 = record("CVE-2014-0160", "Debian:7", "openssl", events=fixed_at("1.0.1e-2+deb7u5"))
    v2["severity"] = [{"type": "CVSS_V2", "score": CVSS2_HIGH}]
    no_published = record("GO-2024-1", "Go", "golang.org/x/net", events=fixed_at("0.23.0"), cvss=CVSS_LOW)
    del no_published["published"]
    return [
        record(
            "GHSA-crit",
            "PyPI",
            "Django_REST.framework",
            events=[{"introduced": "0"}, {"fixed": "3.15.2"}],
            cvss=CVSS_CRITICAL,
            aliases=["CVE-2024-21520", "PYSEC-2024-1"],
            modified="2024-06-01T12:30:45.123456Z",
            summary="XSS in the browsable API",
        ),
        record("GHSA-v30", "npm", "lodash", events=fixed_at("4.17.21", "4.0.0"), cvss=CVSS30_MEDIUM),
        record("GHSA-v4", "Maven", "org.example:lib", events=fixed_at("2.0.0"), cvss=CVSS4_HIGH),
        record("GHSA-v4t", "crates.io", "hyper", events=fixed_at("1.0.0"), cvss=CVSS4_THREAT),
        v2,
        typed_label,
        bad_vector,
        no_published,
        record("DSA-1", "Debian:12", "curl", events=fixed_at("7.88.1-10+deb12u5"), label="unimportant"),
        record(
            "ALPINE-1",
            "Alpine:v3.19",
            "musl",
            events=[{"introduced": "1.2.0-r0"}, {"last_affected": "1.2.4-r2"}],
        ),
        record(
            "GHSA-semver",
            "npm",
            "express",
            range_type="SEMVER",
            events=[{"introduced": "4.0.0"}, {"fixed": "4.19.2"}, {"introduced": "5.0.0"}],
            versions=["4.18.2", "4.19.0"],
            extra_affected=[
                {
                    "package": {"ecosystem": "npm", "name": "express-session"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"limit": "2.0.0"}]}],
                },
                {"package": {"ecosystem": "SwiftURL", "name": "left-out"}, "versions": ["1.0"]},
            ],
        ),
        record("GHSA-none", "npm", "no-severity", versions=["1.0.0"]),
        record("GHSA-gone", "npm", "lodash", events=fixed_at("9.9.9"), withdrawn="2024-02-01T00:00:00Z"),
    ]


#: Packages each record of :func:`every_shape` (but the withdrawn one) affects.
EVERY_SHAPE_SBOM = [
    "pkg:pypi/django-rest-framework@3.14.0",
    "pkg:npm/lodash@4.17.20",
    "pkg:maven/org.example/lib@1.5",
    "pkg:cargo/hyper@0.14.0",
    "pkg:deb/debian/openssl@1.0.1e-2+deb7u4?distro=debian-7",
    "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.9?distro=ubuntu-22.04",
    "pkg:npm/left-pad@1.2.0",
    "pkg:golang/golang.org/x/net@0.22.0",
    "pkg:deb/debian/curl@7.88.1-10+deb12u4?distro=debian-12",
    "pkg:apk/alpine/musl@1.2.4-r1?distro=3.19.1",
    "pkg:npm/express@4.18.2",
    "pkg:npm/express-session@1.17.0",
    "pkg:npm/no-severity@1.0.0",
]
