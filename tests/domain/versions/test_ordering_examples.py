"""Documented ordering examples of every ecosystem, as ascending chains and equalities."""

from __future__ import annotations

import itertools

import pytest

from harbourmaster.domain.versions import scheme_for

# Each chain is strictly ascending; every pair in it is checked both ways.
CHAINS: dict[str, list[list[str]]] = {
    "Debian": [
        # Debian Policy 5.6.12: ~ sorts before anything, even the end of a part.
        ["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a", "1.0+b1", "1.0.1"],
        ["1.0~rc1-1", "1.0-0~1", "1.0", "1.0-0.1", "1.0-1", "1.0-1+deb12u1", "1.0-2", "1.0-10"],
        ["2.30-1", "2.31-1", "9.99", "1:0.1", "1:0.1-1", "2:0"],
        ["1.2.3", "1.2.3+dfsg", "1.2.3+dfsg-1~bpo12+1", "1.2.3+dfsg-1"],
        ["0.9", "0.10", "0.100"],
        ["1", "a", "b"],
    ],
    "Ubuntu:22.04:LTS": [["1.2-1ubuntu1", "1.2-1ubuntu1.1", "1.2-1ubuntu2", "1.2-2"]],
    "Red Hat": [
        # rpmvercmp: ~ is a pre-release, ^ a post-release snapshot.
        ["1.0~rc1", "1.0~rc2", "1.0", "1.0^git1", "1.0^git2", "1.0.1"],
        ["1.0a", "1.0b", "1.0.0", "1.0.1", "1.1"],
        ["1.0-1.el8", "1.0-1.el9", "1.0-2.el8", "1:0.5-1"],
        ["2.9", "2.10", "2.010.1"],
        ["1.0~~", "1.0~", "1.0", "1.0^", "1.0^^"],
    ],
    "Alpine:v3.19": [
        # apk: pre-release suffixes < no suffix < -r < post-release suffixes < letters < more numbers.
        ["1.2_alpha", "1.2_alpha2", "1.2_beta", "1.2_pre1", "1.2_rc1", "1.2", "1.2-r1", "1.2-r10",
         "1.2_cvs", "1.2_svn", "1.2_git20230101", "1.2_hg", "1.2_p1", "1.2_p2", "1.2a", "1.2b", "1.2.1"],
        ["1.0_rc1", "1.0_rc1-r1", "1.0"],
        ["1.01", "1.02", "1.1", "1.2", "1.10"],
        ["3.0.8-r0", "3.0.8-r3", "3.0.9-r0", "3.1.0-r0"],
        ["1.1.1t-r0", "1.1.1t-r2", "1.1.1u-r0"],
    ],
    "PyPI": [
        # PEP 440, "Summary of permitted suffixes and relative ordering".
        ["1.dev0", "1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456",
         "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0",
         "1.0+abc.5", "1.0+abc.7", "1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1"],
        ["0.9", "1!0.1", "1!1.0"],
    ],
    "npm": [
        # semver.org section 11.
        ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
         "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"],
        ["1.0.0-0", "1.0.0-1", "1.0.0-a", "1.0.0"],
    ],
    "Go": [
        # Pseudo-versions sort by their timestamp, between the tags around them.
        ["v0.0.0-20190101000000-aaaaaaaaaaaa", "v0.0.0-20200101000000-000000000000", "v0.1.0",
         "v1.2.3", "v1.2.4-0.20190101000000-aaaaaaaaaaaa", "v1.2.4-0.20210101000000-aaaaaaaaaaaa",
         "v1.2.4-pre", "v1.2.4-pre.0.20190101000000-aaaaaaaaaaaa", "v1.2.4-pre.1", "v1.2.4",
         "v2.0.0+incompatible", "v2.0.1"],
    ],
    "Maven": [
        # Maven's "Version Order Specification" (POM reference) examples.
        ["1-snapshot", "1", "1-sp"],
        ["1-foo2", "1-foo10"],
        ["1-foo", "1-1", "1.1"],
        ["1-sp-1", "1-1"],
        ["1-alpha-1", "1-beta-1", "1-milestone-1", "1-rc-1", "1-snapshot", "1", "1-sp", "1-abc", "1-xyz"],
        ["1.0-alpha1", "1.0-beta1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "1.0.1"],
        ["1.0.0.RC1", "1.0.0-RC2"],
        # Maven 3.8 (the version Debian 12 ships, our oracle) still orders 1-ga-1 < 1-1.
        ["1-ga-1", "1-1"],
    ],
    "RubyGems": [
        ["1.0.a", "1.0.a.1", "1.0.b1", "1.0.rc1", "1.0", "1.0.1", "1.1", "1.10"],
        ["2.0.0-rc1", "2.0.0.rc2", "2.0.0"],
    ],
}

EQUAL: dict[str, list[tuple[str, str]]] = {
    "Debian": [("1.0", "1.0-0"), ("0:1.0", "1.0"), ("1.00", "1.0"), ("1.0-0", "1.0-00")],
    "Red Hat": [("1.0", "0:1.0"), ("1.0", "1_0"), ("1.01", "1.1"), ("1..0", "1.0")],
    "Alpine": [("1.2-r0", "1.2-r0")],
    "PyPI": [("1.0", "1.0.0"), ("1.0a1", "1.0alpha1"), ("1.0.post1", "1.0-1"), ("v1.0", "1.0")],
    "npm": [("1.2.3", "v1.2.3"), ("1.2.3", "=1.2.3"), ("1.2.3+build.5", "1.2.3"), (" 1.2.3 ", "1.2.3")],
    "Go": [("v1", "v1.0.0"), ("v1.2", "1.2.0"), ("v2.0.0+incompatible", "2.0.0")],
    "Maven": [
        ("1", "1.0"), ("1.ga", "1"), ("1-ga", "1-0"), ("1.0", "1.0.0"), ("1.foo", "1-foo"),
        ("1-a1", "1-alpha-1"), ("1-cr1", "1-rc1"), ("1-final", "1"), ("1-release", "1"),
        ("1.0-SNAPSHOT", "1-snapshot"), ("1.0.0.RC1", "1.0.0-rc-1"),
    ],
    "RubyGems": [("1.0", "1.0.0"), ("1.0.0-rc1", "1.0.0.pre.rc1"), ("1.a.0", "1.a")],
}


@pytest.mark.parametrize(
    ("ecosystem", "chain"),
    [(eco, chain) for eco, chains in CHAINS.items() for chain in chains],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]}..",
)
def test_documented_chain_is_ascending(ecosystem: str, chain: list[str]) -> None:
    scheme = scheme_for(ecosystem)
    for a, b in itertools.combinations(chain, 2):
        assert scheme.compare(a, b) == -1, f"{ecosystem}: expected {a} < {b}"
        assert scheme.compare(b, a) == 1, f"{ecosystem}: expected {b} > {a}"
    keys = [scheme.sort_key(v) for v in reversed(chain)]
    assert [chain[len(chain) - 1 - i] for i in sorted(range(len(keys)), key=keys.__getitem__)] == chain


@pytest.mark.parametrize(
    ("ecosystem", "a", "b"), [(eco, a, b) for eco, pairs in EQUAL.items() for a, b in pairs]
)
def test_documented_equalities(ecosystem: str, a: str, b: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme.compare(a, b) == 0
    assert scheme.compare(b, a) == 0
    assert not scheme.sort_key(a) < scheme.sort_key(b)
    assert not scheme.sort_key(b) < scheme.sort_key(a)
