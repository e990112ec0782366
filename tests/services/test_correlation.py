"""Continuous correlation through the store's repositories, on SQLite and PostgreSQL: only changed
advisories are looked up, by name and by source package, with the release and the version ordering
respected; known (image, advisory, package) triples are not reported twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.services.advisories import import_advisories
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.correlation import correlate_changed
from harbourmaster.services.sboms import store_sbom
from harbourmaster.supply.advisories import open_osv
from harbourmaster.supply.sbom import (
    Distro,
    ImageInfo,
    Package,
    PackageType,
    Platform,
    Sbom,
    SbomFormat,
)
from tests.integration.postgres import core_on
from tests.supply.advisories._osv import fixed_at, record, write_dir

LAYER = "sha256:" + "cd" * 32


@pytest.fixture
def hm(database_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    core = core_on(database_url, tmp_path / "home")
    yield core
    core.db.dispose()


def _pkg(
    name: str, version: str, kind: PackageType, purl: str, source: str = "", source_version: str = ""
) -> Package:
    return Package(
        name=name,
        version=version,
        type=kind,
        purl=purl,
        path="/x",
        layer_digest=LAYER,
        source_package=source,
        source_version=source_version,
    )


def _image(n: int, distro: str, packages: tuple[Package, ...]) -> Sbom:
    return Sbom(
        image=ImageInfo(
            name=f"registry.example/app{n}:1",
            digest="sha256:" + f"{n:02d}" * 32,
            platform=Platform(os="linux", architecture="amd64"),
        ),
        packages=packages,
        distro=Distro(id="debian", version_id=distro),
    )


def _correlate(hm: Harbourmaster, path: Path):  # type: ignore[no-untyped-def]
    with hm.store.transaction() as tx:
        report = import_advisories(tx.advisories, open_osv(path), actor="test", clock=hm.clock)
        return report, correlate_changed(
            tx, report.changed, import_id=report.import_id, now=dt.datetime.now(dt.UTC)
        )


def test_newly_affected_images_only(hm: Harbourmaster, tmp_path: Path) -> None:
    bsdutils = _pkg(
        "bsdutils",
        "1:2.38.1-5+deb12u1",
        PackageType.DEB,
        "pkg:deb/debian/bsdutils@1:2.38.1-5+deb12u1?distro=debian-12&upstream=util-linux",
        "util-linux",
        "2.38.1-5+deb12u1",
    )
    old_bsd = _pkg(
        "bsdutils",
        "1:2.36.1-8+deb11u1",
        PackageType.DEB,
        "pkg:deb/debian/bsdutils@1:2.36.1-8+deb11u1?distro=debian-11&upstream=util-linux",
        "util-linux",
        "2.36.1-8+deb11u1",
    )
    lodash = _pkg("lodash", "4.17.20", PackageType.NPM, "pkg:npm/lodash@4.17.20")
    scoped = _pkg("core", "7.0.0", PackageType.NPM, "pkg:npm/%40babel/core@7.0.0")
    go = _pkg(
        "github.com/gin-gonic/gin", "v1.9.0", PackageType.GOLANG, "pkg:golang/github.com/gin-gonic/gin@v1.9.0"
    )
    a = store_sbom(hm, _image(1, "12", (bsdutils, lodash)), fmt=SbomFormat.CYCLONEDX_JSON, actor="t")
    b = store_sbom(hm, _image(2, "11", (old_bsd, scoped, go)), fmt=SbomFormat.CYCLONEDX_JSON, actor="t")
    store_sbom(
        hm,
        _image(3, "12", (_pkg("lodash", "4.17.21", PackageType.NPM, "pkg:npm/lodash@4.17.21"),)),
        fmt=SbomFormat.CYCLONEDX_JSON,
        actor="t",
    )
    records = [
        # source-package match at the source version: the binary's epoch must not hide it
        record("DSA-UL", "Debian:12", "util-linux", events=fixed_at("2.38.1-5+deb12u2")),
        record("GHSA-LO", "npm", "lodash", range_type="SEMVER", events=fixed_at("4.17.21")),
        record("GHSA-BA", "npm", "@babel/core", range_type="SEMVER", events=fixed_at("7.1.0")),
        record("GO-1", "Go", "github.com/gin-gonic/gin", range_type="SEMVER", events=fixed_at("1.9.1")),
    ]
    _, found = _correlate(hm, write_dir(tmp_path / "a", records))
    got = {(n.image_digest, a_["id"]) for n in found for a_ in n.advisories}
    assert got == {
        (a.image_digest, "DSA-UL"),
        (a.image_digest, "GHSA-LO"),
        (b.image_digest, "GHSA-BA"),
        (b.image_digest, "GO-1"),
    }
    # the Debian 11 image is not touched by a Debian 12 advisory; a Debian 11 one finds it
    _, eleven = _correlate(
        hm,
        write_dir(
            tmp_path / "b",
            [record("DSA-UL-11", "Debian:11", "util-linux", events=fixed_at("2.36.1-8+deb11u2"))],
        ),
    )
    assert [(n.image_digest, [x["id"] for x in n.advisories]) for n in eleven] == [
        (b.image_digest, ["DSA-UL-11"])
    ]
    # an update of a known advisory reports nothing new; a withdrawn one neither
    report, again = _correlate(
        hm,
        write_dir(
            tmp_path / "c",
            [
                dict(records[1], modified="2025-01-01T00:00:00Z"),
                dict(records[0], modified="2025-01-01T00:00:00Z", withdrawn="2025-01-01T00:00:00Z"),
            ],
        ),
    )
    assert report.updated == 2
    assert again == []
