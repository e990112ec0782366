"""Component purls and OSV ecosystem names meet at one key."""

from __future__ import annotations

import pytest

from harbourmaster.supply.advisories import component_ecosystem, component_package_name, ecosystem_key


@pytest.mark.parametrize(
    ("purl_type", "namespace", "distro", "expected"),
    [
        ("deb", "debian", "debian-12", ("Debian:12", "debian:12")),
        ("deb", "debian", "debian-11", ("Debian:11", "debian:11")),
        ("deb", "debian", "debian-12.4", ("Debian:12", "debian:12")),
        ("deb", "ubuntu", "ubuntu-22.04", ("Ubuntu:22.04", "ubuntu:22.04")),
        ("apk", "alpine", "alpine-3.19.1", ("Alpine:v3.19", "alpine:v3.19")),
        ("apk", "alpine", "alpine-3.18", ("Alpine:v3.18", "alpine:v3.18")),
        ("rpm", "redhat", "rhel-9.3", ("Red Hat:enterprise_linux:9", "red hat:9")),
        ("rpm", "almalinux", "almalinux-9.3", ("AlmaLinux:9", "almalinux:9")),
        ("rpm", "rocky", "rocky-8.9", ("Rocky Linux:8", "rocky linux:8")),
        ("pypi", None, None, ("PyPI", "pypi")),
        ("npm", "@babel", None, ("npm", "npm")),
        ("golang", "github.com/x", None, ("Go", "go")),
        ("maven", "org.apache", None, ("Maven", "maven")),
        ("gem", None, None, ("RubyGems", "rubygems")),
        ("deb", "debian", None, None),  # no release: no ecosystem
        ("generic", None, None, None),
    ],
)
def test_component_ecosystem(purl_type: str, namespace: str | None, distro: str | None, expected) -> None:  # type: ignore[no-untyped-def]
    assert component_ecosystem(purl_type, namespace=namespace, distro=distro) == expected


@pytest.mark.parametrize(
    ("osv", "key"),
    [
        ("Debian:12", "debian:12"),
        ("Ubuntu:22.04:LTS", "ubuntu:22.04"),
        ("Ubuntu:24.10", "ubuntu:24.10"),
        ("Ubuntu:Pro:18.04:LTS", "ubuntu:pro:18.04"),
        ("Alpine:v3.19", "alpine:v3.19"),
        ("Red Hat:enterprise_linux:9::appstream", "red hat:9"),
        ("Red Hat:rhel_eus:8.6::baseos", "red hat:8"),
        ("AlmaLinux:9", "almalinux:9"),
        ("Rocky Linux:8", "rocky linux:8"),
        ("PyPI", "pypi"),
        ("RubyGems", "rubygems"),
    ],
)
def test_ecosystem_key(osv: str, key: str) -> None:
    assert ecosystem_key(osv) == key


def test_component_package_names_follow_each_ecosystems_convention() -> None:
    assert component_package_name("pypi", namespace=None, name="Zope.Interface") == "zope-interface"
    assert component_package_name("npm", namespace="@babel", name="core") == "@babel/core"
    assert (
        component_package_name("golang", namespace="github.com/gin-gonic", name="gin")
        == "github.com/gin-gonic/gin"
    )
    assert (
        component_package_name("maven", namespace="org.apache.logging.log4j", name="log4j-core")
        == "org.apache.logging.log4j:log4j-core"
    )
    assert component_package_name("deb", namespace="debian", name="libssl3") == "libssl3"
