"""The matcher over an in-memory index: each ecosystem's ordering, source packages, releases, and
differential checks against packaging (PEP 440) and the real dpkg."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from packaging.version import Version

from harbourmaster.domain.findings import FixState
from harbourmaster.supply.advisories import MemoryAdvisoryIndex, parse_osv
from harbourmaster.supply.scan import Component, Matcher
from tests.supply.advisories._osv import fixed_at, record


def _matcher(*records: dict) -> Matcher:  # type: ignore[type-arg]
    return Matcher(MemoryAdvisoryIndex(parse_osv(json.dumps(r), where=r["id"]) for r in records))


def _hits(matcher: Matcher, *purls: str) -> set[tuple[str, str]]:
    return {
        (f.id, f.package.version) for f in matcher.match([Component.from_purl(p) for p in purls]).findings
    }


@pytest.mark.parametrize(
    ("ecosystem", "name", "purl_prefix", "fixed", "affected", "not_affected"),
    [
        (
            "npm",
            "semver-pre",
            "pkg:npm/semver-pre",
            "2.0.0",
            ["2.0.0-rc.1", "1.9.9", "2.0.0-alpha"],
            ["2.0.0", "2.0.1"],
        ),
        (
            "Go",
            "example.com/mod",
            "pkg:golang/example.com/mod",
            "1.4.0",
            ["v1.4.0-0.20240101000000-aaaaaaaaaaaa", "v1.3.9"],
            ["v1.4.0", "v1.10.0"],
        ),
        (
            "Maven",
            "org.example:lib",
            "pkg:maven/org.example/lib",
            "2.0",
            ["2.0-alpha-1", "2.0-SNAPSHOT", "2.0-rc1", "1.10"],
            ["2.0", "2.0-sp1", "2.0.1"],
        ),
        (
            "Alpine:v3.19",
            "openssl",
            "pkg:apk/alpine/openssl",
            "3.1.4-r5",
            ["3.1.4-r4", "3.1.4_rc1-r0", "3.1.3_p1-r0"],
            ["3.1.4-r5", "3.1.4_p1-r0", "3.1.5-r0"],
        ),
        (
            "PyPI",
            "Django",
            "pkg:pypi/django",
            "4.2.8",
            ["4.2.8rc1", "4.2.7.post1", "4.2.dev0"],
            ["4.2.8", "4.2.8.post1", "5.0"],
        ),
        ("RubyGems", "rack", "pkg:gem/rack", "2.2.8", ["2.2.8.rc1", "2.2.7"], ["2.2.8", "3.0.0.beta1"]),
        (
            "Rocky Linux:9",
            "openssl",
            "pkg:rpm/rocky/openssl",
            "1:3.0.7-25.el9",
            ["1:3.0.7-24.el9", "1:3.0.7~rc1-25.el9"],
            ["1:3.0.7-25.el9", "1:3.0.7-25.el9^git1"],
        ),
    ],
)
def test_each_ecosystem_is_matched_in_its_own_ordering(
    ecosystem: str, name: str, purl_prefix: str, fixed: str, affected: list[str], not_affected: list[str]
) -> None:
    matcher = _matcher(record("ADV-1", ecosystem, name, events=fixed_at(fixed)))
    qualifiers = ""
    if purl_prefix.startswith("pkg:apk"):
        qualifiers = "?distro=alpine-3.19.1"
    elif purl_prefix.startswith("pkg:rpm"):
        qualifiers = "?distro=rocky-9.3"
    purls = [f"{purl_prefix}@{v}{qualifiers}" for v in affected + not_affected]
    assert _hits(matcher, *purls) == {("ADV-1", v) for v in affected}


def test_distro_packages_match_by_source_and_release() -> None:
    matcher = _matcher(
        record("DSA-12", "Debian:12", "openssl", events=fixed_at("3.0.13-1~deb12u1")),
        record("DSA-11", "Debian:11", "openssl", events=fixed_at("1.1.1w-0+deb11u2")),
        record("ALPINE-1", "Alpine:v3.18", "openssl", events=fixed_at("3.1.4-r5")),
    )
    result = matcher.match(
        [
            Component.from_purl(
                "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?distro=debian-12",
                source_package="openssl",
                source_version="3.0.11-1~deb12u2",
            ),
            Component.from_purl("pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=debian-12"),
            Component.from_purl(
                "pkg:apk/alpine/libcrypto3@3.1.4-r1?distro=alpine-3.19.0", source_package="openssl"
            ),
            Component.from_purl("pkg:deb/debian/unrelated@1.0?distro=debian-12"),
            Component.from_purl("pkg:generic/thing@1.0"),
        ]
    )
    assert {(f.id, f.package.name) for f in result.findings} == {("DSA-12", "libssl3"), ("DSA-12", "openssl")}
    assert result.components == 5
    assert result.unsupported == 1
    libssl = next(f for f in result.findings if f.package.name == "libssl3")
    assert libssl.package.ecosystem == "Debian:12"
    assert libssl.state is FixState.FIXED


def test_fixed_versions_above_the_installed_one_and_no_fix() -> None:
    matcher = _matcher(
        record(
            "TWO-BRANCHES",
            "npm",
            "lib",
            events=[{"introduced": "1.0.0"}, {"fixed": "1.2.5"}, {"introduced": "2.0.0"}, {"fixed": "2.1.3"}],
        ),
        record("NO-FIX", "npm", "lib", events=[{"introduced": "0"}]),
    )
    by_id = {f.id: f for f in matcher.match([Component.from_purl("pkg:npm/lib@2.0.1")]).findings}
    assert by_id["TWO-BRANCHES"].fixed_versions == ("2.1.3",)
    assert by_id["NO-FIX"].fixed_versions == ()
    assert by_id["NO-FIX"].state is FixState.NOT_FIXED


def test_an_unparsable_installed_version_is_a_warning_not_an_error() -> None:
    matcher = _matcher(record("ADV", "npm", "lib", events=fixed_at("1.0.0")))
    result = matcher.match([Component.from_purl("pkg:npm/lib@not!a!version")])
    assert result.findings == ()
    assert len(result.warnings) == 1
    assert "pkg:npm/lib@not%21a%21version" in result.warnings[0] or "not!a!version" in result.warnings[0]
    assert "ADV" in result.warnings[0]


_PEP440 = st.builds(
    lambda major, minor, micro, pre: f"{major}.{minor}.{micro}{pre}",
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(0, 4),
    st.sampled_from(["", "a1", "b2", "rc1", ".post1", ".dev3"]),
)


@settings(max_examples=200, deadline=None)
@given(installed=_PEP440, introduced=_PEP440, fixed=_PEP440)
def test_pypi_matches_agree_with_the_packaging_library(installed: str, introduced: str, fixed: str) -> None:
    assume(Version(introduced) < Version(fixed))  # a well-formed range introduces before it fixes
    matcher = _matcher(record("P", "PyPI", "pkg", events=[{"introduced": introduced}, {"fixed": fixed}]))
    expected = Version(introduced) <= Version(installed) < Version(fixed)
    assert bool(_hits(matcher, f"pkg:pypi/pkg@{installed}")) == expected


def _dpkg_versions(limit: int) -> list[str]:
    status = Path("/var/lib/dpkg/status").read_text(errors="replace")
    versions = [line.split(":", 1)[1].strip() for line in status.splitlines() if line.startswith("Version:")]
    return sorted(set(versions))[:limit]


def test_debian_matches_agree_with_the_real_dpkg() -> None:
    dpkg = shutil.which("dpkg")
    assert dpkg is not None, "dpkg is part of this Debian machine"
    versions = _dpkg_versions(60)
    fixed = versions[len(versions) // 2]
    matcher = _matcher(record("DEB", "Debian:12", "src", events=fixed_at(fixed)))
    for version in versions:
        expected = (
            subprocess.run([dpkg, "--compare-versions", version, "lt", fixed], check=False).returncode == 0
        )
        got = matcher.match([Component.from_purl(f"pkg:deb/debian/src@{version}?distro=debian-12")]).findings
        assert bool(got) == expected, (version, fixed)
