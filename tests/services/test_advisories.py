"""Importing advisories into the store and matching through its index, on SQLite and PostgreSQL:
incremental import, withdrawal, bad records, status, and range semantics
(introduced/fixed/last_affected/limit, versions lists) through the stored index."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.domain.severity import Severity
from harbourmaster.services.advisories import StoredAdvisoryIndex, import_advisories
from harbourmaster.services.core import Harbourmaster
from harbourmaster.supply.advisories import InvalidAdvisory, open_osv
from harbourmaster.supply.scan import Component, Matcher
from tests.integration.postgres import core_on, table_rows
from tests.supply.advisories._osv import CVSS_HIGH, fixed_at, record, write_dir, write_zip


@pytest.fixture
def hm(database_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    core = core_on(database_url, tmp_path / "home")
    yield core
    core.db.dispose()


def _import(hm: Harbourmaster, path: Path, *, strict: bool = False, batch_size: int = 1000):  # type: ignore[no-untyped-def]
    with hm.store.transaction() as tx:
        return import_advisories(
            tx.advisories, open_osv(path), actor="test", clock=hm.clock, strict=strict, batch_size=batch_size
        )


def _ids(hm: Harbourmaster, purls: list[str]) -> set[tuple[str, str]]:
    result = Matcher(StoredAdvisoryIndex(hm.store)).match([Component.from_purl(p) for p in purls])
    return {(f.id, f.package.version) for f in result.findings}


def test_import_is_incremental_by_id_and_modified(hm: Harbourmaster, tmp_path: Path) -> None:
    records = [
        record(f"GHSA-{i}", "npm", f"pkg{i}", events=fixed_at("1.0.0"), cvss=CVSS_HIGH) for i in range(25)
    ]
    first = _import(hm, write_dir(tmp_path / "v1", records), batch_size=10)
    assert (first.records, first.inserted, first.updated, first.unchanged, first.skipped) == (25, 25, 0, 0, 0)
    again = _import(hm, tmp_path / "v1")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 25)
    assert len(again.changed) == 0
    newer = record("GHSA-3", "npm", "pkg3", events=fixed_at("2.0.0"), modified="2024-06-01T00:00:00Z")
    older = record("GHSA-4", "npm", "pkg4", events=fixed_at("9.0.0"), modified="2020-01-01T00:00:00Z")
    third = _import(hm, write_dir(tmp_path / "v2", [newer, older]))
    assert (third.inserted, third.updated, third.unchanged) == (0, 1, 1)
    assert _ids(hm, ["pkg:npm/pkg3@1.5.0", "pkg:npm/pkg4@1.5.0"]) == {("GHSA-3", "1.5.0")}
    with hm.store.read() as tx:
        status = tx.advisories.status()
        assert status.advisories == 25
        assert len(list(tx.advisories.affected("npm", [f"pkg{i}" for i in range(25)]))) == 25
        assert status.imports == 3


def test_a_withdrawn_record_stops_matching(hm: Harbourmaster, tmp_path: Path) -> None:
    _import(hm, write_dir(tmp_path / "a", [record("GHSA-w", "PyPI", "requests", events=fixed_at("2.31.0"))]))
    assert _ids(hm, ["pkg:pypi/requests@2.30.0"]) == {("GHSA-w", "2.30.0")}
    withdrawn = record(
        "GHSA-w",
        "PyPI",
        "requests",
        events=fixed_at("2.31.0"),
        modified="2024-05-01T00:00:00Z",
        withdrawn="2024-05-01T00:00:00Z",
    )
    report = _import(hm, write_dir(tmp_path / "b", [withdrawn]))
    assert (report.updated, report.withdrawn) == (1, 1)
    assert _ids(hm, ["pkg:pypi/requests@2.30.0"]) == set()
    with hm.store.read() as tx:
        status = tx.advisories.status()
    assert status.withdrawn == 1
    assert status.per_ecosystem == {}


def test_a_bad_record_is_skipped_and_counted_or_strict_refuses_everything(
    hm: Harbourmaster, tmp_path: Path
) -> None:
    good = [record(f"GO-{i}", "Go", f"example.com/m{i}", events=fixed_at("1.2.0")) for i in range(3)]
    path = write_zip(
        tmp_path / "all.zip",
        good,
        junk={
            "GO-bad.json": json.dumps(
                {
                    "id": "GO-bad",
                    "modified": "2024-01-01T00:00:00Z",
                    "affected": [
                        {
                            "package": {"ecosystem": "Go", "name": "x"},
                            "ranges": [
                                {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "one.two"}]}
                            ],
                        }
                    ],
                }
            ).encode(),
            "notes.txt": b"junk",
        },
    )
    before = table_rows(hm.db.engine)
    with pytest.raises(InvalidAdvisory) as info:
        _import(hm, path, strict=True)
    assert "nothing was written" in info.value.message
    assert "GO-bad.json (GO-bad): affected[0].ranges" in info.value.diagnostics()
    assert table_rows(hm.db.engine) == before
    report = _import(hm, path)
    assert (report.records, report.inserted, report.skipped) == (5, 3, 2)
    assert any("GO-bad.json (GO-bad): affected[0].ranges: invalid" in p for p in report.problems)
    assert any("notes.txt: not a .json member" in p for p in report.problems)


def test_status_counts_per_ecosystem_last_import_and_newest_modified(
    hm: Harbourmaster, tmp_path: Path
) -> None:
    records = [
        record("DSA-1", "Debian:12", "openssl", events=fixed_at("3.0.11-1"), modified="2024-03-01T10:00:00Z"),
        record("DSA-2", "Debian:11", "openssl", events=fixed_at("1.1.1w-0"), modified="2024-02-01T00:00:00Z"),
        record("GHSA-1", "PyPI", "django", events=fixed_at("4.2"), modified="2023-01-01T00:00:00Z"),
        record("ALPINE-1", "Alpine:v3.19", "openssl", events=fixed_at("3.1.4-r5")),
        record("X-1", "NuGet", "thing", events=fixed_at("1.0")),
    ]
    report = _import(hm, write_dir(tmp_path / "s", records))
    assert report.unsupported == {"NuGet": 1}
    with hm.store.read() as tx:
        status = tx.advisories.status()
    assert status.per_ecosystem == {"Alpine:v3.19": 1, "Debian:11": 1, "Debian:12": 1, "PyPI": 1}
    assert status.advisories == 5
    assert status.newest_modified == dt.datetime(2024, 3, 1, 10, tzinfo=dt.UTC)
    assert status.last_import is not None
    assert status.imports == 1


def test_range_semantics_through_the_stored_index(hm: Harbourmaster, tmp_path: Path) -> None:
    records = [
        # last_affected is inclusive, fixed is exclusive
        record("R-LAST", "npm", "la", events=[{"introduced": "1.0.0"}, {"last_affected": "1.4.0"}]),
        # limit bounds the whole range: the second introduction is open-ended up to the limit
        record(
            "R-LIMIT",
            "npm",
            "li",
            events=[{"introduced": "1.0.0"}, {"fixed": "1.5.0"}, {"introduced": "2.0.0"}, {"limit": "2.5.0"}],
        ),
        # an explicit versions list with no ranges
        record("R-LIST", "PyPI", "Listed_Pkg", versions=["1.2.3", "1.2.5"]),
        # SEMVER range on Go with a pseudo-version
        record(
            "R-GO",
            "Go",
            "example.com/mod",
            range_type="SEMVER",
            events=[{"introduced": "0"}, {"fixed": "1.3.0"}],
        ),
        # Debian: dpkg ordering with an epoch and tilde
        record(
            "R-DEB", "Debian:12", "zlib", events=[{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-1~deb12u1"}]
        ),
    ]
    _import(hm, write_dir(tmp_path / "r", records))
    got = _ids(
        hm,
        [
            "pkg:npm/la@0.9.0",
            "pkg:npm/la@1.0.0",
            "pkg:npm/la@1.4.0",
            "pkg:npm/la@1.4.1",
            "pkg:npm/li@1.2.0",
            "pkg:npm/li@1.5.0",
            "pkg:npm/li@2.1.0",
            "pkg:npm/li@2.5.0",
            "pkg:npm/li@3.0.0",
            "pkg:pypi/listed-pkg@1.2.3",
            "pkg:pypi/listed-pkg@1.2.4",
            "pkg:pypi/listed-pkg@1.2.5",
            "pkg:golang/example.com/mod@v1.2.1-0.20230101000000-abcdefabcdef",
            "pkg:golang/example.com/mod@v1.3.0",
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12&upstream=zlib",  # above the ~ fix
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-0.1?distro=debian-12&upstream=zlib",
            "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1~deb12u1?distro=debian-12&upstream=zlib",
            "pkg:deb/debian/zlib1g@1.2.99?distro=debian-12&upstream=zlib",  # no epoch: older than any 1:...
        ],
    )
    assert got == {
        ("R-LAST", "1.0.0"),
        ("R-LAST", "1.4.0"),
        ("R-LIMIT", "1.2.0"),
        ("R-LIMIT", "2.1.0"),
        ("R-LIST", "1.2.3"),
        ("R-LIST", "1.2.5"),
        ("R-GO", "v1.2.1-0.20230101000000-abcdefabcdef"),
        ("R-DEB", "1:1.2.13.dfsg-0.1"),
        ("R-DEB", "1.2.99"),
    }


def test_distro_release_and_source_package_matter(hm: Harbourmaster, tmp_path: Path) -> None:
    records = [
        record("DSA-12", "Debian:12", "openssl", events=fixed_at("3.0.13-1~deb12u1"), cvss=CVSS_HIGH),
        record("DSA-11", "Debian:11", "openssl", events=fixed_at("1.1.1w-0+deb11u2")),
        record("USN-1", "Ubuntu:22.04:LTS", "openssl", events=fixed_at("3.0.2-0ubuntu1.15")),
    ]
    _import(hm, write_dir(tmp_path / "d", records))
    libssl12 = "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    libssl11 = "pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u5?arch=amd64&distro=debian-11&upstream=openssl"
    ubuntu = "pkg:deb/ubuntu/libssl3@3.0.2-0ubuntu1.10?arch=amd64&distro=ubuntu-22.04&upstream=openssl"
    result = Matcher(StoredAdvisoryIndex(hm.store)).match(
        [Component.from_purl(p) for p in (libssl12, libssl11, ubuntu)]
    )
    got = {(f.id, f.package.name, f.package.ecosystem) for f in result.findings}
    assert got == {
        ("DSA-12", "libssl3", "Debian:12"),
        ("DSA-11", "libssl1.1", "Debian:11"),
        ("USN-1", "libssl3", "Ubuntu:22.04"),
    }
    high = next(f for f in result.findings if f.id == "DSA-12")
    assert high.severity is Severity.HIGH
    assert high.fixed_versions == ("3.0.13-1~deb12u1",)
    assert "matched on source package openssl" in high.notes[0]


def test_the_index_cache_follows_new_imports(hm: Harbourmaster, tmp_path: Path) -> None:
    index = StoredAdvisoryIndex(hm.store)
    matcher = Matcher(index)
    component = [Component.from_purl("pkg:gem/rack@2.2.3")]
    assert matcher.match(component).findings == ()
    _import(hm, write_dir(tmp_path / "g", [record("GEM-1", "RubyGems", "rack", events=fixed_at("2.2.8"))]))
    assert [f.id for f in matcher.match(component).findings] == ["GEM-1"]
