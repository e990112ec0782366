"""SBOM identity: a registry image's SBOM names its repository; a local source's is re-labelled on attach."""

from __future__ import annotations

import json

import pytest
from packageurl import PackageURL

from harbourmaster.supply.sbom import ImageInfo, Platform, Sbom, SbomFormat, render_sbom, validate_sbom
from harbourmaster.supply.sbom.identity import (
    SOURCE_NAME_PROPERTY,
    DocumentNotRelabelled,
    document_image,
    for_registry_image,
    relabel_document,
)
from tests.services.test_sboms import sample

DIGEST = "sha256:" + "ab" * 32
REPOSITORY = "registry.example:5000/team/app"
NAME = f"{REPOSITORY}:v1"


def _local() -> Sbom:
    """The sample SBOM as an OCI layout names it: the layout directory and its ref name."""
    image = ImageInfo(name="L:v1", digest=DIGEST, platform=Platform(os="linux", architecture="arm64",
                                                                    variant="v8"),
                      layer_digests=("sha256:" + "cd" * 32,))
    return Sbom(image=image, packages=sample().packages, distro=sample().distro)


def _root(document: str, fmt: SbomFormat) -> tuple[str, PackageURL]:
    image = document_image(document, fmt)
    return image.name, PackageURL.from_string(image.purl)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_a_registry_image_names_its_repository_and_tag(fmt: SbomFormat) -> None:
    sbom = _local()
    registry = Sbom(image=for_registry_image(sbom.image, name=NAME, repository=REPOSITORY, tag="v1"),
                    packages=sbom.packages, distro=sbom.distro)
    document = render_sbom(registry, fmt)
    validate_sbom(document, fmt)
    name, purl = _root(document, fmt)
    assert name == NAME
    assert purl.to_string() == f"pkg:oci/app@{DIGEST}?arch=arm64&os=linux&repository_url={REPOSITORY}&tag=v1"
    image = document_image(document, fmt)
    assert (image.repository, image.tag) == (REPOSITORY, "v1")


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_a_local_source_keeps_its_name_until_it_is_relabelled(fmt: SbomFormat) -> None:
    local = render_sbom(_local(), fmt)
    name, purl = _root(local, fmt)
    assert (name, purl.name, purl.qualifiers.get("repository_url")) == ("L:v1", "l", None)
    assert document_image(local, fmt).repository == ""

    relabelled = relabel_document(local, fmt, name=NAME, digest=DIGEST, repository=REPOSITORY, tag="v1")
    validate_sbom(relabelled, fmt)
    name, purl = _root(relabelled, fmt)
    assert name == NAME
    assert (purl.type, purl.name, purl.version) == ("oci", "app", DIGEST)
    # The platform qualifiers the document had are kept; the repository and tag are the registry's.
    assert purl.qualifiers == {"arch": "arm64", "os": "linux", "repository_url": REPOSITORY, "tag": "v1"}
    before, after = json.loads(local), json.loads(relabelled)
    if fmt is SbomFormat.CYCLONEDX_JSON:
        root = after["metadata"]["component"]
        assert {"name": SOURCE_NAME_PROPERTY, "value": "L:v1"} in root["properties"]
        assert root["bom-ref"] == before["metadata"]["component"]["bom-ref"]  # dependencies still hold
        assert after["serialNumber"] == before["serialNumber"]
        assert after["version"] == before["version"] + 1  # a modified BOM is its next version
        assert after["components"] == before["components"]
    else:
        assert after["name"] == NAME
        assert after["documentNamespace"] != before["documentNamespace"]  # another document
        image = next(p for p in after["packages"] if p["primaryPackagePurpose"] == "CONTAINER")
        assert image["comment"].endswith("; source name L:v1")
        assert after["packages"][1:] == before["packages"][1:]
        assert after["relationships"] == before["relationships"]
    # The same document re-labelled for the same image is the same bytes (an idempotent push).
    again = relabel_document(local, fmt, name=NAME, digest=DIGEST, repository=REPOSITORY, tag="v1")
    assert again == relabelled


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_relabelling_again_keeps_the_first_source_name(fmt: SbomFormat) -> None:
    once = relabel_document(render_sbom(_local(), fmt), fmt, name=NAME, digest=DIGEST, repository=REPOSITORY,
                            tag="v1")
    mirror = "registry.example:5000/mirror/app"
    twice = relabel_document(once, fmt, name=f"{mirror}@{DIGEST}", digest=DIGEST, repository=mirror, tag=None)
    validate_sbom(twice, fmt)
    image = document_image(twice, fmt)
    assert (image.name, image.repository, image.tag) == (f"{mirror}@{DIGEST}", mirror, "")
    text = json.dumps(json.loads(twice))
    assert "L:v1" in text and text.count("source name") + text.count(SOURCE_NAME_PROPERTY) == 1


def test_a_document_without_a_root_component_gets_one() -> None:
    foreign = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []})
    assert document_image(foreign, SbomFormat.CYCLONEDX_JSON).name == ""
    relabelled = relabel_document(foreign, SbomFormat.CYCLONEDX_JSON, name=NAME, digest=DIGEST,
                                  repository=REPOSITORY, tag="v1")
    validate_sbom(relabelled, SbomFormat.CYCLONEDX_JSON)
    root = json.loads(relabelled)["metadata"]["component"]
    assert (root["type"], root["name"], root["version"]) == ("container", NAME, DIGEST)


def test_not_a_document() -> None:
    for bad in ("[]", "{", '"x"'):
        with pytest.raises(DocumentNotRelabelled):
            relabel_document(bad, SbomFormat.SPDX_JSON, name=NAME, digest=DIGEST, repository=REPOSITORY,
                             tag=None)
