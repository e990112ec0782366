from __future__ import annotations

import json

import pytest

from harbourmaster.errors import NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import get_sbom, list_sboms, store_sbom
from harbourmaster.supply.sbom import Distro, ImageInfo, Package, PackageType, Platform, Sbom, SbomFormat

DIGEST = "sha256:" + "ab" * 32


def sample(version: str = "3.0.11-1~deb12u2") -> Sbom:
    return Sbom(
        image=ImageInfo(
            name="harbor.corp/payments/api:1",
            digest=DIGEST,
            platform=Platform(os="linux", architecture="amd64"),
            layer_digests=("sha256:" + "cd" * 32,),
        ),
        packages=(
            Package(
                name="libssl3",
                version=version,
                type=PackageType.DEB,
                purl=f"pkg:deb/debian/libssl3@{version}?arch=amd64&distro=debian-12",
                path="/var/lib/dpkg/status",
                layer_digest="sha256:" + "cd" * 32,
                source_package="openssl",
                source_version=version,
            ),
            Package(
                name="requests",
                version="2.31.0",
                type=PackageType.PYPI,
                purl="pkg:pypi/requests@2.31.0",
                path="/usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
                layer_digest="sha256:" + "cd" * 32,
            ),
        ),
        distro=Distro(id="debian", version_id="12", version_codename="bookworm"),
    )


def test_store_index_and_fetch(hm: Harbourmaster) -> None:
    stored = store_sbom(hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="t")
    assert stored.component_count == 2 and stored.distro == "debian-12"
    meta, document = get_sbom(hm, image_digest=DIGEST)
    assert meta.id == stored.id
    names = {c["name"] for c in json.loads(document)["components"]}
    assert {"libssl3", "requests"} <= names
    with hm.store.read() as tx:
        rows = [
            (c.name, c.source_package, c.distro)
            for s in tx.sboms.stored()
            for c in tx.sboms.indexed(s.id)
            if c.purl_type == "deb"
        ]
    assert rows == [("libssl3", "openssl", "debian-12")]


def test_storing_again_replaces_the_earlier_sbom(hm: Harbourmaster) -> None:
    store_sbom(hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="t")
    store_sbom(hm, sample("3.0.13-1~deb12u1"), fmt=SbomFormat.CYCLONEDX_JSON, actor="t")
    store_sbom(hm, sample(), fmt=SbomFormat.SPDX_JSON, actor="t")
    assert len(list_sboms(hm, image_digest=DIGEST)) == 2
    with hm.store.read() as tx:
        versions = sorted(
            c.version for s in tx.sboms.stored() for c in tx.sboms.indexed(s.id) if c.name == "libssl3"
        )
    assert versions == ["3.0.11-1~deb12u2", "3.0.13-1~deb12u1"]


def test_missing_sbom_is_not_found(hm: Harbourmaster) -> None:
    with pytest.raises(NotFound, match="no SBOM is stored"):
        get_sbom(hm, image_digest="sha256:" + "00" * 32)
