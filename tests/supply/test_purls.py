"""purls per type, and the image's own purl."""

from __future__ import annotations

import pytest
from packageurl import PackageURL

from harbourmaster.supply.sbom import Distro, FoundPackage, PackageType, Platform
from harbourmaster.supply.sbom.purls import image_purl, purl_for

DEBIAN = Distro(id="debian", version_id="12", version_codename="bookworm")


@pytest.mark.parametrize(
    ("found", "distro", "expected"),
    [
        (
            FoundPackage(
                name="openssl",
                version="3.0.11-1~deb12u2",
                type=PackageType.DEB,
                path="/",
                arch="amd64",
                source_package="openssl",
            ),
            DEBIAN,
            "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
        ),
        (
            FoundPackage(
                name="libssl3",
                version="3.0.11-1~deb12u2",
                type=PackageType.DEB,
                path="/",
                arch="amd64",
                source_package="openssl",
            ),
            DEBIAN,
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
        ),
        (
            FoundPackage(name="musl", version="1.2.4-r2", type=PackageType.APK, path="/", arch="x86_64"),
            Distro(id="alpine", version_id="3.19.1"),
            "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1",
        ),
        (
            FoundPackage(
                name="bash", version="5.1.8-6.el9", type=PackageType.RPM, path="/", arch="x86_64", epoch="1"
            ),
            Distro(id="rhel", version_id="9.3"),
            "pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&distro=rhel-9.3&epoch=1",
        ),
        (
            FoundPackage(name="Foo.Bar_baz", version="1.0", type=PackageType.PYPI, path="/"),
            None,
            "pkg:pypi/foo-bar-baz@1.0",
        ),
        (
            FoundPackage(name="core", namespace="@babel", version="7.1.0", type=PackageType.NPM, path="/"),
            None,
            "pkg:npm/%40babel/core@7.1.0",
        ),
        (
            FoundPackage(name="github.com/x/y", version="v1.2.3", type=PackageType.GOLANG, path="/"),
            None,
            "pkg:golang/github.com/x/y@v1.2.3",
        ),
        (
            FoundPackage(
                name="commons-lang3",
                namespace="org.apache.commons",
                version="3.12.0",
                type=PackageType.MAVEN,
                path="/",
            ),
            None,
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        ),
        (
            FoundPackage(name="rake", version="13.0.6", type=PackageType.GEM, path="/"),
            None,
            "pkg:gem/rake@13.0.6",
        ),
    ],
)
def test_purl_per_type(found: FoundPackage, distro: Distro | None, expected: str) -> None:
    purl = purl_for(found, distro)
    assert purl == expected
    assert PackageURL.from_string(purl).to_string() == purl  # parses back unchanged


def test_os_packages_without_os_release_keep_a_default_namespace() -> None:
    found = FoundPackage(name="bash", version="5", type=PackageType.DEB, path="/", arch="amd64")
    assert purl_for(found, None) == "pkg:deb/debian/bash@5?arch=amd64"


def test_image_purl() -> None:
    platform = Platform(os="linux", architecture="arm64")
    assert image_purl(name="registry.example:5000/team/app:v1", digest="sha256:ab", platform=platform) == (
        "pkg:oci/app@sha256:ab?arch=arm64&os=linux&repository_url=registry.example:5000/team/app"
    )
    assert (
        image_purl(name="img", digest="sha256:ab", platform=platform)
        == "pkg:oci/img@sha256:ab?arch=arm64&os=linux"
    )


def test_image_purl_of_a_registry_image_names_its_repository_and_tag() -> None:
    platform = Platform(os="linux", architecture="amd64")
    # The purl spec's oci type: the last path segment as the name, where to fetch it, and the tag.
    assert image_purl(name="docker.io/library/debian:latest", digest="sha256:ab", platform=platform,
                      repository="docker.io/library/debian", tag="latest") == (
        "pkg:oci/debian@sha256:ab?arch=amd64&os=linux&repository_url=docker.io/library/debian&tag=latest"
    )
    # By digest: no tag; a name that is not the repository's does not change the purl.
    assert image_purl(name="anything", digest="sha256:ab", platform=platform,
                      repository="reg.example:5000/Team/App") == (
        "pkg:oci/app@sha256:ab?arch=amd64&os=linux&repository_url=reg.example:5000/Team/App"
    )
