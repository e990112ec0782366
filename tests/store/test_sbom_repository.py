"""The SBOM repository on SQLite and PostgreSQL: an SBOM replaces the one for the same image digest, format
and platform with its index; look-ups by digest, by id, and by purl for correlation."""

from __future__ import annotations

import datetime as dt

from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import IndexedComponent, SbomDocument, SbomImage, StoredComponent

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
LAYER = "sha256:" + "ef" * 32


def _component(purl: str, purl_type: str, name: str, version: str, *, namespace: str | None = None,
               source: str | None = None, distro: str | None = None) -> IndexedComponent:
    return IndexedComponent(purl=purl, purl_type=purl_type, namespace=namespace, name=name, version=version,
                            source_package=source, source_version=version if source else None,
                            distro=distro, layer_digest=LAYER)


LIBSSL = _component("pkg:deb/debian/libssl3@3.0.11-1?distro=debian-12", "deb", "libssl3", "3.0.11-1",
                    namespace="debian", source="openssl", distro="debian-12")
OPENSSL = _component("pkg:deb/debian/openssl@3.0.11-1?distro=debian-12", "deb", "openssl", "3.0.11-1",
                     namespace="debian", source="openssl", distro="debian-12")
BABEL = _component("pkg:npm/%40babel/core@7.0.0", "npm", "core", "7.0.0", namespace="@babel")
OTHER_CORE = _component("pkg:npm/core@1.0.0", "npm", "core", "1.0.0")


def _sbom(digest: str = DIGEST, *, fmt: str = "cyclonedx-json", platform: str = "linux/amd64",
          components: tuple[IndexedComponent, ...] = (LIBSSL, OPENSSL, BABEL), document: str = "{}",
          name: str = "registry.example/app:1") -> SbomDocument:
    return SbomDocument(image_digest=digest, image_name=name, platform=platform, format=fmt,
                        distro="debian-12", origin="generated", document=document, components=components)


def test_replace_keeps_the_document_and_its_index(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        stored = tx.sboms.replace(_sbom(document='{"v": 1}'), created_at=T0)
    assert (stored.image_digest, stored.format, stored.platform, stored.component_count) == (
        DIGEST, "cyclonedx-json", "linux/amd64", 3)
    assert (stored.image_name, stored.distro, stored.origin) == (
        "registry.example/app:1", "debian-12", "generated")
    with hm.store.read() as tx:
        assert tx.sboms.document(stored.id) == '{"v": 1}'
        assert tx.sboms.indexed(stored.id) == [LIBSSL, OPENSSL, BABEL]
        assert tx.sboms.stored() == [stored]
        assert tx.sboms.document(stored.id + 1000) is None
        assert tx.sboms.indexed(stored.id + 1000) == []


def test_a_second_sbom_for_the_same_image_format_and_platform_replaces_the_first(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        first = tx.sboms.replace(_sbom(), created_at=T0)
        spdx = tx.sboms.replace(_sbom(fmt="spdx-json"), created_at=T0 + dt.timedelta(seconds=1))
        arm = tx.sboms.replace(_sbom(platform="linux/arm64"), created_at=T0 + dt.timedelta(seconds=2))
    with hm.store.transaction() as tx:
        second = tx.sboms.replace(_sbom(components=(BABEL,), document='{"v": 2}'),
                                  created_at=T0 + dt.timedelta(seconds=3))
    with hm.store.read() as tx:
        assert [s.id for s in tx.sboms.stored(image_digest=DIGEST)] == [second.id, arm.id, spdx.id]
        assert first.id not in {s.id for s in tx.sboms.stored()}
        assert tx.sboms.indexed(first.id) == []
        assert tx.sboms.indexed(second.id) == [BABEL]
        # the replaced SBOM's index went with it
        assert {c.sbom_id for c in tx.sboms.components("deb", "libssl3")} == {spdx.id, arm.id}


def test_newest_by_digest_and_format(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        older = tx.sboms.replace(_sbom(fmt="spdx-json", document="spdx"), created_at=T0)
        newer = tx.sboms.replace(_sbom(document="cdx"), created_at=T0 + dt.timedelta(minutes=1))
        tx.sboms.replace(_sbom(OTHER, document="other"), created_at=T0 + dt.timedelta(minutes=2))
    with hm.store.read() as tx:
        assert tx.sboms.newest(image_digest=DIGEST) == (newer, "cdx")
        assert tx.sboms.newest(image_digest=DIGEST, format="spdx-json") == (older, "spdx")
        assert tx.sboms.newest(image_digest="sha256:" + "00" * 32) is None
        assert tx.sboms.newest(image_digest=OTHER, format="spdx-json") is None
        assert [s.image_digest for s in tx.sboms.stored()] == [OTHER, DIGEST, DIGEST]


def test_components_by_name_namespace_and_source_package(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        a = tx.sboms.replace(_sbom(), created_at=T0)
        b = tx.sboms.replace(_sbom(OTHER, components=(OTHER_CORE, OPENSSL)), created_at=T0)

    def found(components: list[StoredComponent]) -> set[tuple[int, str]]:
        return {(c.sbom_id, c.name) for c in components}

    with hm.store.read() as tx:
        assert found(tx.sboms.components("npm", "core")) == {(a.id, "core"), (b.id, "core")}
        scoped = tx.sboms.components("npm", "core", namespace="@babel")
        assert scoped == [
            StoredComponent(a.id, BABEL.purl, "npm", "@babel", "core", "7.0.0", None, None, None)
        ]
        assert found(tx.sboms.components("deb", "libssl3")) == {(a.id, "libssl3")}
        # by name or built from the source package, each component once
        from_source = tx.sboms.components("deb", "openssl", source_package="openssl")
        assert sorted((c.sbom_id, c.name) for c in from_source) == sorted(
            [(a.id, "openssl"), (b.id, "openssl"), (a.id, "libssl3")]
        )
        assert tx.sboms.components("deb", "libssl3", namespace="ubuntu") == []
        assert tx.sboms.components("apk", "openssl", source_package="openssl") == []


def test_images_of_stored_sboms(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        ids = [tx.sboms.replace(_sbom(f"sha256:{i:064x}", name=f"r.example/app{i}:1", components=()),
                                created_at=T0).id for i in range(1, 1203)]
    with hm.store.read() as tx:
        images = tx.sboms.images(set(ids[::2]) | {10**9})
    assert sorted(images) == sorted(
        SbomImage(sbom_id, f"sha256:{i:064x}", f"r.example/app{i}:1")
        for i, sbom_id in enumerate(ids, start=1)
        if sbom_id in set(ids[::2])
    )
