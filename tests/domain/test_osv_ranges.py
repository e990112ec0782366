"""OSV range semantics (ossf.github.io/osv-schema, "Evaluation")."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import osv_ranges
from harbourmaster.domain.osv_ranges import (
    EventKind,
    InvalidRange,
    OsvEvent,
    OsvRange,
    RangeType,
    affected,
    compile_affected,
    fixed_versions,
)
from harbourmaster.domain.versions import InvalidVersion, VersionScheme, scheme_for

INTRO, F, L, LIM = EventKind.INTRODUCED, EventKind.FIXED, EventKind.LAST_AFFECTED, EventKind.LIMIT


def rng(*events: tuple[EventKind, str], kind: RangeType = RangeType.ECOSYSTEM) -> OsvRange:
    return OsvRange(kind, tuple(OsvEvent(k, v) for k, v in events))


PYPI = scheme_for("PyPI")
DEB = scheme_for("Debian:12")
GO = scheme_for("Go")

TABLE = [
    # (ranges, versions list, version, expected)
    ([rng((INTRO, "0"), (F, "1.5"))], [], "0.1", True),
    ([rng((INTRO, "0"), (F, "1.5"))], [], "1.4.9", True),
    ([rng((INTRO, "0"), (F, "1.5"))], [], "1.5", False),
    ([rng((INTRO, "0"), (F, "1.5"))], [], "1.5.0", False),
    ([rng((INTRO, "0"), (F, "1.5"))], [], "1.5rc1", True),
    ([rng((INTRO, "1.0"), (F, "1.5"))], [], "0.9", False),
    ([rng((INTRO, "1.0"), (F, "1.5"))], [], "1.0", True),
    ([rng((INTRO, "1.0"))], [], "99", True),
    ([rng((INTRO, "1.0"), (L, "1.4"))], [], "1.4", True),
    ([rng((INTRO, "1.0"), (L, "1.4"))], [], "1.4.post1", False),
    ([rng((INTRO, "1.0"), (L, "1.4"))], [], "1.4.1", False),
    # Two intervals in one range, and the same listed out of order.
    ([rng((INTRO, "1.0"), (F, "1.2"), (INTRO, "2.0"), (F, "2.3"))], [], "1.1", True),
    ([rng((INTRO, "1.0"), (F, "1.2"), (INTRO, "2.0"), (F, "2.3"))], [], "1.5", False),
    ([rng((INTRO, "1.0"), (F, "1.2"), (INTRO, "2.0"), (F, "2.3"))], [], "2.2", True),
    ([rng((INTRO, "1.0"), (F, "1.2"), (INTRO, "2.0"), (F, "2.3"))], [], "2.3", False),
    ([rng((F, "2.3"), (INTRO, "2.0"), (F, "1.2"), (INTRO, "1.0"))], [], "2.2", True),
    ([rng((F, "2.3"), (INTRO, "2.0"), (F, "1.2"), (INTRO, "1.0"))], [], "1.5", False),
    # limit: only versions below a limit are in range; "*" is unlimited.
    ([rng((INTRO, "0"), (LIM, "2.0"))], [], "1.9", True),
    ([rng((INTRO, "0"), (LIM, "2.0"))], [], "2.0", False),
    ([rng((INTRO, "1.0"), (LIM, "2.0"), (LIM, "3.0"))], [], "2.5", True),
    ([rng((INTRO, "1.0"), (LIM, "2.0"), (LIM, "3.0"))], [], "3.0", False),
    ([rng((INTRO, "1.0"), (LIM, "*"))], [], "99", True),
    ([rng((INTRO, "1.0"), (F, "1.5"), (LIM, "1.2"))], [], "1.3", False),
    # Explicit versions list, with and without ranges; matches verbatim or by equal version.
    ([], ["1.0", "1.1"], "1.1", True),
    ([], ["1.0", "1.1"], "1.1.0", True),
    ([], ["1.0", "1.1"], "1.2", False),
    ([rng((INTRO, "2.0"), (F, "2.1"))], ["1.0"], "1.0", True),
    ([], ["legacy-0.1-x"], "legacy-0.1-x", True),
    # GIT ranges are never evaluated.
    ([rng((INTRO, "0"), kind=RangeType.GIT)], [], "1.0", False),
    # Several ranges: any one suffices.
    ([rng((INTRO, "1.0"), (F, "1.1")), rng((INTRO, "3.0"), (F, "3.1"))], [], "3.0.5", True),
    # Nothing introduced: nothing affected.
    ([rng((F, "1.0"))], [], "0.5", False),
    # Equal introduced and fixed: empty interval.
    ([rng((INTRO, "1.0"), (F, "1.0"))], [], "1.0", False),
    ([rng((INTRO, "1.0"), (L, "1.0"))], [], "1.0", True),
]


@pytest.mark.parametrize(("ranges", "listed", "version", "expected"), TABLE)
def test_range_table(ranges: list[OsvRange], listed: list[str], version: str, expected: bool) -> None:
    assert affected(version, ranges=ranges, versions=listed, scheme=PYPI) is expected


def test_debian_ranges_use_dpkg_ordering() -> None:
    ranges = [rng((INTRO, "0"), (F, "2.36-9+deb12u4"))]
    assert affected("2.36-9+deb12u3", ranges=ranges, scheme=DEB)
    assert affected("2.36-9", ranges=ranges, scheme=DEB)
    assert not affected("2.36-9+deb12u4", ranges=ranges, scheme=DEB)
    assert not affected("2.36-9+deb12u10", ranges=ranges, scheme=DEB)
    assert affected("1:0.1", ranges=[rng((INTRO, "1:0"))], scheme=DEB)
    assert not affected("9.9", ranges=[rng((INTRO, "1:0"))], scheme=DEB)


def test_semver_ranges_for_go_accept_v_prefix_and_pseudo_versions() -> None:
    ranges = [rng((INTRO, "0"), (F, "0.0.0-20220314234659-1baeb1ce4c0b"), kind=RangeType.SEMVER)]
    assert affected("v0.0.0-20210101000000-abcdefabcdef", ranges=ranges, scheme=GO)
    assert not affected("v0.0.0-20230101000000-abcdefabcdef", ranges=ranges, scheme=GO)
    assert not affected("v0.1.0", ranges=ranges, scheme=GO)


def test_semver_ranges_under_a_non_semver_ecosystem_use_strict_semver() -> None:
    ranges = [rng((INTRO, "1.0.0"), (F, "1.2.0"), kind=RangeType.SEMVER)]
    assert affected("1.1.0", ranges=ranges, scheme=DEB)
    assert not affected("1.2.0", ranges=ranges, scheme=DEB)
    with pytest.raises(InvalidVersion):
        affected("1.1", ranges=ranges, scheme=DEB)


def test_invalid_event_version_names_it() -> None:
    with pytest.raises(InvalidVersion) as caught:
        compile_affected(ranges=[rng((INTRO, "0"), (F, "not a version!"))], scheme=PYPI)
    assert "not a version!" in str(caught.value)


def test_invalid_installed_version_raises_unless_listed() -> None:
    compiled = compile_affected(ranges=[rng((INTRO, "0"))], versions=["odd-version-x"], scheme=PYPI)
    assert compiled.matches("odd-version-x")
    with pytest.raises(InvalidVersion):
        compiled.matches("another odd one")


def test_fixed_versions_in_record_order_without_repeats_and_without_git() -> None:
    ranges = [
        rng((INTRO, "0"), (F, "1.5"), (INTRO, "2.0"), (F, "2.1")),
        rng((INTRO, "0"), (F, "1.5")),
        rng((INTRO, "0"), (F, "abcdef"), kind=RangeType.GIT),
        rng((INTRO, "3.0"), (L, "3.3")),
    ]
    assert fixed_versions(ranges) == ("1.5", "2.1")
    assert fixed_versions([rng((INTRO, "0"))]) == ()


def test_from_osv_parses_json_and_names_the_fault() -> None:
    parsed = OsvRange.from_osv(
        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2"}, {"limit": "*"}]}
    )
    assert parsed == rng((INTRO, "0"), (F, "1.2"), (LIM, "*"))
    for bad, fragment in [
        ({"type": "RANGE", "events": []}, "unknown range type"),
        ({"type": "SEMVER"}, "'events' must be a list"),
        ({"type": "SEMVER", "events": [{"introduced": "0", "fixed": "1"}]}, "exactly one key"),
        ({"type": "SEMVER", "events": [{"patched": "1"}]}, "unknown event"),
        ({"type": "SEMVER", "events": [{"fixed": ""}]}, "non-empty string"),
        ({"type": "SEMVER", "events": [{"fixed": 3}]}, "non-empty string"),
        ("nope", "must be an object"),
    ]:
        with pytest.raises(InvalidRange) as caught:
            OsvRange.from_osv(bad, where="GHSA-1 affected[0].ranges[0]")  # type: ignore[arg-type]
        assert fragment in str(caught.value)
        assert "GHSA-1" in str(caught.value)


def test_events_validate_their_fields() -> None:
    with pytest.raises(InvalidRange):
        OsvEvent(INTRO, "  ")
    with pytest.raises(InvalidRange):
        OsvEvent("introduced", "1.0")  # type: ignore[arg-type]


# --- differential: compiled breakpoints against a literal transcription of the OSV pseudo-code ----

def _reference(version: str, ranges: list[OsvRange], listed: list[str], scheme: VersionScheme) -> bool:
    """The OSV schema's evaluation pseudo-code, followed literally (slow, obviously right)."""
    if version in listed:
        return True
    for r in ranges:
        if r.type is RangeType.GIT:
            continue
        limits = [e.version for e in r.events if e.kind is LIM]
        if limits and not any(v == "*" or scheme.compare(version, v) < 0 for v in limits):
            continue

        def order(a: OsvEvent, b: OsvEvent) -> int:
            if a.version == "0" and a.kind is INTRO:
                return -1 if not (b.version == "0" and b.kind is INTRO) else 0
            if b.version == "0" and b.kind is INTRO:
                return 1
            c = scheme.compare(a.version, b.version)
            if c:
                return c
            return (a.kind is not INTRO) - (b.kind is not INTRO)

        state = False
        for e in sorted((e for e in r.events if e.kind is not LIM), key=functools.cmp_to_key(order)):
            if e.kind is INTRO and (e.version == "0" or scheme.compare(version, e.version) >= 0):
                state = True
            elif e.kind is F:
                state = state and scheme.compare(version, e.version) < 0
            elif e.kind is L:
                state = state and scheme.compare(version, e.version) <= 0
        if state:
            return True
    return any(scheme.compare(version, v) == 0 for v in listed)


_ver = st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 4), st.integers(0, 3))
_event = st.one_of(
    st.tuples(st.just(INTRO), st.one_of(st.just("0"), _ver)),
    st.tuples(st.just(F), _ver),
    st.tuples(st.just(L), _ver),
    st.tuples(st.just(LIM), st.one_of(st.just("*"), _ver)),
)
_range = st.lists(_event, min_size=1, max_size=6).map(lambda evs: rng(*evs))


@settings(max_examples=400, deadline=None)
@given(st.lists(_range, max_size=3), st.lists(_ver, max_size=2), st.lists(_ver, min_size=1, max_size=8))
def test_compiled_matching_equals_the_reference_evaluation(
    ranges: list[OsvRange], listed: list[str], probes: list[str]
) -> None:
    compiled = compile_affected(ranges=ranges, versions=listed, scheme=PYPI)
    for version in probes:
        expected = _reference(version, ranges, listed, PYPI)
        assert compiled.matches(version) is expected, (version, ranges, listed)
        assert compiled.matches_key(PYPI.sort_key(version)) is expected


def test_public_names_are_pinned() -> None:
    assert set(osv_ranges.__all__) == {
        "CompiledAffected", "CompiledRange", "EventKind", "InvalidRange", "OsvEvent", "OsvRange",
        "RangeType", "affected", "compile_affected", "fixed_versions",
    }
