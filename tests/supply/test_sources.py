"""Image sources: OCI layout selection (tag, several images, multi-arch) and docker-archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harbourmaster.supply.sbom import (
    LayerError,
    Platform,
    SourceError,
    default_catalogers,
    open_source,
    parse_platform,
    scan_image,
)
from tests.supply._images import compress, file, tar_bytes
from tests.supply._layouts import add_image, add_index, docker_archive, write_index

STATUS = "Package: {0}\nStatus: install ok installed\nVersion: 1\nArchitecture: {1}\n\n"


def layer(name: str, arch: str = "amd64") -> bytes:
    return compress(tar_bytes([file("var/lib/dpkg/status", STATUS.format(name, arch))]), "gzip")


def names(spec: str, **kw) -> set[str]:
    with open_source(spec, **kw) as src:
        return {p.name for p in scan_image(src, catalogers=default_catalogers()).packages}


def test_a_layout_with_one_untagged_image_means_that_image(tmp_path: Path) -> None:
    write_index(tmp_path, [add_image(tmp_path, [layer("only")])], [None])
    assert names(f"oci-layout:{tmp_path}") == {"only"}


def test_a_tag_selects_among_several_images(tmp_path: Path) -> None:
    write_index(
        tmp_path, [add_image(tmp_path, [layer("one")]), add_image(tmp_path, [layer("two")])], ["v1", "v2"]
    )
    assert names(f"oci-layout:{tmp_path}:v2") == {"two"}
    with pytest.raises(SourceError) as info:
        open_source(f"oci-layout:{tmp_path}")
    assert "holds 2 images" in info.value.message
    assert any(d.startswith("v1 sha256:") for d in info.value.details)
    with pytest.raises(SourceError, match="no image tagged 'v3'"):
        open_source(f"oci-layout:{tmp_path}:v3")


def test_a_multi_arch_index_picks_the_platform(tmp_path: Path) -> None:
    amd = add_image(tmp_path, [layer("for-amd64")])
    arm = add_image(tmp_path, [layer("for-arm64", "arm64")], arch="arm64")
    write_index(
        tmp_path, [add_index(tmp_path, [(amd, "linux", "amd64"), (arm, "linux", "arm64")])], ["multi"]
    )
    assert names(f"oci-layout:{tmp_path}") == {"for-amd64"}
    assert names(f"oci-layout:{tmp_path}:multi", platform=parse_platform("linux/arm64")) == {"for-arm64"}
    with open_source(f"oci-layout:{tmp_path}", platform=Platform(os="linux", architecture="arm64")) as src:
        assert str(src.image().platform) == "linux/arm64"
    with pytest.raises(SourceError, match="no image for platform linux/s390x") as info:
        open_source(f"oci-layout:{tmp_path}", platform=parse_platform("linux/s390x"))
    assert len(info.value.details) == 2


def test_the_image_is_named_by_its_manifest_digest(tmp_path: Path) -> None:
    desc = add_image(tmp_path, [layer("x")])
    write_index(tmp_path, [desc], ["v1"])
    with open_source(f"oci-layout:{tmp_path}:v1") as src:
        info = src.image()
    assert info.digest == desc["digest"]
    assert info.name == f"{tmp_path.name}:v1"


def test_a_tampered_layer_blob_is_an_error(tmp_path: Path) -> None:
    write_index(tmp_path, [add_image(tmp_path, [layer("x")])], [None])
    manifest = json.loads((tmp_path / "index.json").read_text())["manifests"][0]["digest"]
    layer_digest = json.loads((tmp_path / "blobs/sha256" / manifest.split(":")[1]).read_text())["layers"][0][
        "digest"
    ]
    (tmp_path / "blobs/sha256" / layer_digest.split(":")[1]).write_bytes(layer("y"))
    with pytest.raises(LayerError, match="does not match its digest"):
        names(f"oci-layout:{tmp_path}")


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (None, "is not an OCI image layout"),
        ("[not json", "not valid JSON"),
        ('{"manifests": []}', "holds no images"),
        ('{"manifests": [{"digest": "sha256:../../etc/passwd"}]}', "not a valid digest"),
        ('{"manifests": [{"digest": "sha256:' + "a" * 64 + '"}]}', "cannot read"),
    ],
)
def test_malformed_layouts_are_clear_errors(tmp_path: Path, index: str | None, message: str) -> None:
    if index is not None:
        (tmp_path / "oci-layout").write_text("{}")
        (tmp_path / "index.json").write_text(index)
    with pytest.raises(SourceError, match=message):
        open_source(f"oci-layout:{tmp_path}")


def test_docker_archive(tmp_path: Path) -> None:
    raw = tar_bytes([file("var/lib/dpkg/status", STATUS.format("from-archive", "amd64"))])
    archive = tmp_path / "image.tar"
    docker_archive(archive, [raw], tags=["example/app:1"])
    with open_source(f"docker-archive:{archive}") as src:
        info = src.image()
        sbom = scan_image(src, catalogers=default_catalogers())
    assert info.name == "example/app:1"
    assert {p.name for p in sbom.packages} == {"from-archive"}
    assert sbom.packages[0].layer_digest == info.layer_digests[0]


def test_not_a_docker_archive(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    bogus.write_bytes(b"nope" * 300)
    with pytest.raises(SourceError, match="not a readable docker-archive"):
        open_source(f"docker-archive:{bogus}")


def test_other_references_are_refused() -> None:
    for spec in ("docker://example.com/app:1", "example.com/app:1", "oci:dir", "oci-layout:/does/not/exist"):
        with pytest.raises(SourceError):
            open_source(spec)


@pytest.mark.parametrize("text", ["linux", "linux/", "/amd64", "a/b/c/d"])
def test_bad_platforms(text: str) -> None:
    with pytest.raises(SourceError, match="OS/ARCH"):
        parse_platform(text)
