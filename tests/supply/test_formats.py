"""CycloneDX 1.6 and SPDX 2.3 output: valid against the official schemas, image as the root."""

from __future__ import annotations

import json

import pytest

from harbourmaster.supply.sbom import (
    Distro,
    ImageInfo,
    Package,
    PackageType,
    Platform,
    Sbom,
    SbomError,
    SbomFormat,
    ScanWarning,
    render_sbom,
    validate_sbom,
)

IMAGE = ImageInfo(
    name="registry.example/team/app:1",
    digest="sha256:" + "ab" * 32,
    platform=Platform(os="linux", architecture="arm64", variant="v8"),
    layer_digests=("sha256:" + "01" * 32, "sha256:" + "02" * 32),
)


def package(name: str, licences: tuple[str, ...] = (), **kw) -> Package:
    defaults = dict(
        version="1.0",
        type=PackageType.PYPI,
        purl=f"pkg:pypi/{name.lower()}@1.0",
        path=f"/site/{name}-1.0.dist-info/METADATA",
        layer_digest=IMAGE.layer_digests[1],
    )
    defaults.update(kw)
    return Package(name=name, licenses=licences, **defaults)  # type: ignore[arg-type]


SBOM = Sbom(
    image=IMAGE,
    distro=Distro(id="debian", version_id="12", pretty_name="Debian 12"),
    packages=(
        package("a", ("MIT",)),
        package("b", ("MIT OR Apache-2.0",)),
        package("c", ("Some Custom Licence v2", "BSD-3-Clause")),
        package("d"),
        package(
            "libssl3",
            type=PackageType.DEB,
            version="3.0.11-1~deb12u2",
            path="/var/lib/dpkg/status",
            purl="pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=arm64&distro=debian-12",
            source_package="openssl",
            source_version="3.0.11-1~deb12u2",
            arch="arm64",
        ),
        package("a", ("MIT",), path="/other/a-1.0.dist-info/METADATA"),
    ),
    warnings=(ScanWarning(message="something skipped", layer_digest=IMAGE.layer_digests[0], path="/x"),),
)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_documents_validate_against_the_official_schema(fmt: SbomFormat) -> None:
    validate_sbom(render_sbom(SBOM, fmt), fmt)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_an_empty_image_validates(fmt: SbomFormat) -> None:
    validate_sbom(render_sbom(Sbom(image=IMAGE, packages=()), fmt), fmt)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_validation_rejects_a_broken_document(fmt: SbomFormat) -> None:
    doc = json.loads(render_sbom(SBOM, fmt))
    if fmt is SbomFormat.SPDX_JSON:
        doc["packages"][1]["SPDXID"] = "not an id"
    else:
        doc["components"][0]["type"] = "spaceship"
    with pytest.raises(SbomError, match="does not validate"):
        validate_sbom(json.dumps(doc), fmt)


def test_cyclonedx_root_component_and_package_details() -> None:
    doc = json.loads(render_sbom(SBOM, SbomFormat.CYCLONEDX_JSON))
    assert doc["specVersion"] == "1.6"
    root = doc["metadata"]["component"]
    assert (root["type"], root["name"], root["version"]) == ("container", IMAGE.name, IMAGE.digest)
    assert root["purl"].startswith("pkg:oci/app@sha256:" + "ab" * 32) and "arch=arm64" in root["purl"]
    assert {"name": "harbourmaster:image:platform", "value": "linux/arm64/v8"} in root["properties"]
    comps = {c["bom-ref"]: c for c in doc["components"]}
    ssl = next(c for c in comps.values() if c["name"] == "libssl3")
    props = {p["name"]: p["value"] for p in ssl["properties"]}
    assert props["harbourmaster:source:name"] == "openssl"
    assert props["harbourmaster:location:layer"] == IMAGE.layer_digests[1]
    assert ssl["evidence"]["occurrences"] == [{"location": "/var/lib/dpkg/status"}]
    assert len([c for c in comps.values() if c["name"] == "a"]) == 2  # two locations, two components
    (deps,) = [d for d in doc["dependencies"] if d["ref"] == root["bom-ref"]]
    assert len(deps["dependsOn"]) == len(doc["components"])
    assert any(c["type"] == "operating-system" and c["name"] == "debian" for c in doc["components"])


def test_spdx_image_package_relationships_and_licences() -> None:
    doc = json.loads(render_sbom(SBOM, SbomFormat.SPDX_JSON))
    assert doc["spdxVersion"] == "SPDX-2.3"
    image = doc["packages"][0]
    assert image["primaryPackagePurpose"] == "CONTAINER" and image["versionInfo"] == IMAGE.digest
    assert image["checksums"] == [{"algorithm": "SHA256", "checksumValue": "ab" * 32}]
    assert "platform linux/arm64/v8" in image["comment"]
    rels = doc["relationships"]
    assert {
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": image["SPDXID"],
    } in rels
    assert sum(r["relationshipType"] == "CONTAINS" for r in rels) == len(doc["packages"]) - 1
    ids = [p["SPDXID"] for p in doc["packages"]]
    assert len(ids) == len(set(ids))
    declared = {p["name"]: p["licenseDeclared"] for p in doc["packages"][2:]}
    assert declared["b"] == "MIT OR Apache-2.0"
    assert declared["d"] == "NOASSERTION"
    assert declared["c"].startswith("LicenseRef-Some-Custom-Licence-v2-") and declared["c"].endswith(
        " AND (BSD-3-Clause)"
    )
    extracted = {x["licenseId"]: x["extractedText"] for x in doc["hasExtractedLicensingInfos"]}
    assert "Some Custom Licence v2" in extracted.values()
