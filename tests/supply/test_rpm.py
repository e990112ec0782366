"""rpm: the sqlite rpmdb read against the rpm tool itself, and header parsing on bad input."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.supply.sbom import FileEntry, ScanLimits
from harbourmaster.supply.sbom.catalogers._rpmheader import RpmHeaderError, parse_header
from harbourmaster.supply.sbom.catalogers.rpm import RpmCataloger, split_source_rpm
from tests.components import ensure_binary

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: test package
License: {licence}
BuildArch: noarch

%description
A test package.

%files
"""
PACKAGES = [
    ("hm-alpha", "1.2.3", "4.fc40", "Epoch: 2\n", "MIT AND Apache-2.0"),
    ("hm-beta", "0.9", "1.el9", "", "GPL-2.0-or-later"),
    ("hm-gamma", "2024.1", "7", "Epoch: 0\n", "BSD"),
]


@pytest.fixture(scope="module")
def rpmdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rpmbuild = ensure_binary("rpmbuild", "rpm")
    rpm = ensure_binary("rpm", "rpm")
    top = tmp_path_factory.mktemp("rpmbuild")
    (top / "SPECS").mkdir()
    for name, version, release, epoch, licence in PACKAGES:
        spec = top / "SPECS" / f"{name}.spec"
        spec.write_text(
            SPEC.format(name=name, version=version, release=release, epoch=epoch, licence=licence)
        )
        subprocess.run(
            [rpmbuild, "--define", f"_topdir {top}", "-bb", str(spec)], check=True, capture_output=True
        )
    db = top / "db"
    db.mkdir()
    subprocess.run([rpm, "--dbpath", str(db), "--initdb"], check=True, capture_output=True)
    rpms = sorted(str(p) for p in (top / "RPMS" / "noarch").glob("*.rpm"))
    subprocess.run(
        [rpm, "--dbpath", str(db), "-i", "--justdb", "--nodeps", "--noscripts", *rpms],
        check=True,
        capture_output=True,
    )
    with sqlite3.connect(db / "rpmdb.sqlite") as conn:  # fold the WAL in, as an image build would
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def test_rpmdb_packages_match_rpm_qa(rpmdb: Path) -> None:
    rpm = ensure_binary("rpm", "rpm")
    out = subprocess.run(
        [
            rpm,
            "--dbpath",
            str(rpmdb),
            "-qa",
            "--qf",
            "%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{LICENSE}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    oracle = set()
    for line in out.splitlines():
        name, epoch, version, arch, source, licence = line.split("\t")
        oracle.add((name, "" if epoch == "(none)" else epoch, version, arch, source, licence))
    blob = (rpmdb / "rpmdb.sqlite").read_bytes()
    path = "/var/lib/rpm/rpmdb.sqlite"
    findings = RpmCataloger().catalog(
        FileEntry(path=path, size=len(blob), mode=0o644), io.BytesIO(blob), limits=ScanLimits()
    )
    ours = {
        (p.name, p.epoch, p.version, p.arch, f"{p.source_package}-{p.source_version}.src.rpm", p.licenses[0])
        for p in findings.packages
    }
    assert ours == oracle
    assert len(ours) == len(PACKAGES)
    assert findings.warnings == ()


def test_berkeley_db_is_an_unsupported_warning() -> None:
    findings = RpmCataloger().catalog(
        FileEntry(path="/var/lib/rpm/Packages", size=3, mode=0o644), io.BytesIO(b"abc"), limits=ScanLimits()
    )
    assert findings.packages == ()
    assert "BerkeleyDB rpmdb is unsupported" in findings.warnings[0]


def test_a_file_that_is_not_sqlite_is_a_warning() -> None:
    findings = RpmCataloger().catalog(
        FileEntry(path="/var/lib/rpm/rpmdb.sqlite", size=100, mode=0o644),
        io.BytesIO(b"x" * 100),
        limits=ScanLimits(),
    )
    assert findings.packages == () and "not a readable sqlite database" in findings.warnings[0]


def test_source_rpm_names() -> None:
    assert split_source_rpm("openssl-3.0.7-2.el9.src.rpm") == ("openssl", "3.0.7-2.el9")
    assert split_source_rpm("glibc-langpack-2.34-60.el9.src.rpm") == ("glibc-langpack", "2.34-60.el9")
    assert split_source_rpm("nonsense") == ("", "")


@given(st.binary(max_size=200))
def test_arbitrary_header_bytes_never_crash(blob: bytes) -> None:
    with contextlib.suppress(RpmHeaderError):
        parse_header(blob)


def test_header_offsets_out_of_bounds_are_rejected() -> None:
    entry = struct.pack(">iIiI", 1000, 6, 9999, 1)
    with pytest.raises(RpmHeaderError, match="outside"):
        parse_header(struct.pack(">II", 1, 4) + entry + b"abc\0")
