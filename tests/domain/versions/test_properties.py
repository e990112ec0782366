"""Properties every scheme's ordering must have, on generated versions of realistic shapes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import versions
from harbourmaster.domain.versions import InvalidVersion, UnknownEcosystem, VersionScheme, scheme_for

_num = st.integers(0, 12).map(str)

STRATEGIES: dict[str, st.SearchStrategy[str]] = {
    "Debian": st.builds(
        lambda e, u, r: e + u + r,
        st.sampled_from(["", "1:", "2:"]),
        st.builds(lambda d, t: d + t, st.sampled_from("0129"), st.text(alphabet="019.+~a", max_size=5)),
        st.one_of(st.just(""), st.text(alphabet="01.+~b", min_size=1, max_size=3).map(lambda r: "-" + r)),
    ),
    "Red Hat": st.builds(
        lambda e, v, r: e + v + r,
        st.sampled_from(["", "1:"]),
        st.text(alphabet="019.a~^_", min_size=1, max_size=6),
        st.one_of(st.just(""), st.text(alphabet="01.el~^", min_size=1, max_size=4).map(lambda r: "-" + r)),
    ),
    "Alpine": st.builds(
        lambda core, letter, suffixes, rev: ".".join(core) + letter + "".join(suffixes) + rev,
        st.lists(st.sampled_from(["0", "1", "2", "01", "10"]), min_size=1, max_size=3),
        st.sampled_from(["", "", "a", "b"]),
        st.lists(st.sampled_from(["_alpha", "_beta2", "_pre", "_rc1", "_rc2", "_p", "_p1", "_git20230101"]),
                 max_size=2),
        st.sampled_from(["", "-r0", "-r1", "-r10"]),
    ),
    "PyPI": st.builds(
        lambda epoch, release, pre, post, dev: epoch + ".".join(release) + pre + post + dev,
        st.sampled_from(["", "", "1!"]),
        st.lists(_num, min_size=1, max_size=3),
        st.sampled_from(["", "a1", "b2", "rc1", "rc10"]),
        st.sampled_from(["", ".post1", ".post2"]),
        st.sampled_from(["", ".dev0", ".dev3"]),
    ),
    "npm": st.builds(
        lambda core, pre: ".".join(core) + pre,
        st.tuples(_num, _num, _num),
        st.one_of(st.just(""), st.lists(st.sampled_from(["alpha", "beta", "0", "1", "11", "rc"]),
                                        min_size=1, max_size=3).map(lambda ids: "-" + ".".join(ids))),
    ),
    "Go": st.builds(
        lambda core, pre: "v" + ".".join(core) + pre,
        st.tuples(_num, _num, _num),
        st.sampled_from(["", "-pre", "-0.20200101000000-abcdefabcdef", "-20210101000000-abcdefabcdef",
                         "-pre.0.20200101000000-abcdefabcdef", "+incompatible"]),
    ),
    # Realistic Maven versions (numbers, then "-" or "." qualifiers); Maven's ordering is only
    # transitive on such shapes, not on arbitrary strings.
    "Maven": st.builds(
        lambda core, qualifier: ".".join(core) + qualifier,
        st.lists(_num, min_size=1, max_size=3),
        st.sampled_from(["", "-SNAPSHOT", "-alpha-1", "-beta2", "-rc1", "-RC2", ".Final", "-sp1", "-jre",
                         "-android", ".RELEASE"]),
    ),
    "RubyGems": st.builds(
        lambda core, pre: ".".join(core) + pre,
        st.lists(_num, min_size=1, max_size=3),
        st.sampled_from(["", ".a", ".beta1", ".rc1", ".rc2", "-rc1", ".pre.1", ".0.a"]),
    ),
}


def _sign(scheme: VersionScheme, a: str, b: str) -> int:
    return scheme.compare(a, b)


@pytest.mark.parametrize("ecosystem", sorted(STRATEGIES))
def test_ordering_is_a_total_preorder(ecosystem: str) -> None:
    scheme = scheme_for(ecosystem)
    strategy = STRATEGIES[ecosystem]

    @settings(max_examples=150, deadline=None)
    @given(strategy, strategy, strategy)
    def check(a: str, b: str, c: str) -> None:
        assert scheme.compare(a, a) == 0
        ab, bc, ac = scheme.compare(a, b), scheme.compare(b, c), scheme.compare(a, c)
        assert scheme.compare(b, a) == -ab
        if ab <= 0 and bc <= 0:
            assert ac <= 0, (a, b, c)
        if ab == 0 and bc == 0:
            assert ac == 0, (a, b, c)
        ka, kb = scheme.sort_key(a), scheme.sort_key(b)
        assert (ka < kb) == (ab < 0)
        assert (kb < ka) == (ab > 0)

    check()


@pytest.mark.parametrize(
    ("ecosystem", "bad"),
    [
        ("Debian", ""), ("Debian", "1.0 1"), ("Debian", "a:1.0"), ("Debian", "1:"), ("Debian", "1.0-"),
        ("Debian", "1.0_1"), ("Debian", "1.0-1_1"),
        ("Red Hat", ""), ("Red Hat", "x:1.0"), ("Red Hat", "1.0-"), ("Red Hat", "1 0"),
        ("Alpine", "1.0-1"), ("Alpine", "1.0_foo"), ("Alpine", "v1.0"), ("Alpine", "1.0."),
        ("Alpine", "1.2ab"),
        ("PyPI", "1.0-foo-bar"), ("PyPI", "not a version"),
        ("npm", "01.2.3"), ("npm", "1.2"), ("npm", "1.2.3-01"), ("npm", "1.2.3beta"),
        ("Go", "1"), ("Go", "v1.2.3.4"), ("Go", "v1-pre"),
        ("Maven", ""), ("Maven", "1 0"),
        ("RubyGems", ""), ("RubyGems", "1..2"), ("RubyGems", "a1"),
        ("Debian", "1" * 300),
    ],
)
def test_invalid_versions_are_rejected_with_the_version_and_ecosystem(ecosystem: str, bad: str) -> None:
    scheme = scheme_for(ecosystem)
    with pytest.raises(InvalidVersion) as caught:
        scheme.sort_key(bad)
    assert caught.value.scheme == scheme.name
    assert caught.value.version == bad
    assert scheme.name in str(caught.value)
    assert not scheme.is_valid(bad)
    assert caught.value.status == 422


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(STRATEGIES)), st.text(max_size=40))
def test_arbitrary_text_parses_or_raises_invalid_version(ecosystem: str, text: str) -> None:
    scheme = scheme_for(ecosystem)
    try:
        key = scheme.sort_key(text)
    except InvalidVersion as exc:
        assert exc.scheme == scheme.name
    else:
        assert scheme.compare(text, text) == 0
        assert not key < key


@pytest.mark.parametrize(
    ("ecosystem", "scheme_name"),
    [
        ("Debian", "dpkg"), ("Debian:12", "dpkg"), ("Ubuntu", "dpkg"), ("Ubuntu:22.04:LTS", "dpkg"),
        ("Ubuntu:Pro:18.04:LTS", "dpkg"), ("deb", "dpkg"),
        ("Alpine", "apk"), ("Alpine:v3.19", "apk"), ("apk", "apk"), ("Wolfi", "apk"),
        ("Red Hat", "rpm"), ("Red Hat:enterprise_linux:9::appstream", "rpm"), ("AlmaLinux", "rpm"),
        ("AlmaLinux:8", "rpm"), ("Rocky Linux:9", "rpm"), ("SUSE:Linux Enterprise Server 15 SP5", "rpm"),
        ("openSUSE", "rpm"), ("rpm", "rpm"),
        ("PyPI", "PyPI"), ("pypi", "PyPI"), ("npm", "npm"), ("Go", "Go"), ("golang", "Go"),
        ("Maven", "Maven"), ("maven", "Maven"), ("RubyGems", "RubyGems"), ("gem", "RubyGems"),
        ("crates.io", "semver"), ("cargo", "semver"),
    ],
)
def test_scheme_for_maps_osv_ecosystems_and_purl_types(ecosystem: str, scheme_name: str) -> None:
    assert scheme_for(ecosystem).name == scheme_name


@pytest.mark.parametrize("unknown", ["", "Haskell", "nuget:x", "docker"])
def test_scheme_for_rejects_unknown_ecosystems(unknown: str) -> None:
    with pytest.raises(UnknownEcosystem) as caught:
        scheme_for(unknown)
    assert repr(unknown) in str(caught.value)


def test_go_pseudo_versions_are_recognised() -> None:
    assert versions.is_pseudo_version("v0.0.0-20191109021931-daa7c04131f5")
    assert versions.is_pseudo_version("v1.2.4-0.20191109021931-daa7c04131f5")
    assert versions.is_pseudo_version("v1.2.3-pre.0.20191109021931-daa7c04131f5+incompatible")
    assert not versions.is_pseudo_version("v1.2.3")
    assert not versions.is_pseudo_version("v1.2.3-rc.1")


def test_public_names_are_pinned() -> None:
    assert set(versions.__all__) == {
        "SEMVER", "ApkVersionScheme", "DpkgVersionScheme", "GemVersionScheme", "GoVersionScheme",
        "InvalidVersion", "MavenVersion", "MavenVersionScheme", "NpmVersionScheme", "PypiVersionScheme",
        "RpmVersionScheme", "SemverVersionScheme", "SortKey", "UnknownEcosystem", "VersionScheme",
        "is_pseudo_version", "known_ecosystems", "scheme_for",
    }
    for name in versions.__all__:
        assert hasattr(versions, name)
