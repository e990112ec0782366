"""Severity: CVSS v2/v3/v4 vectors to ratings, database labels, and OSV records."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import severity as severity_module
from harbourmaster.domain.severity import (
    Severity,
    rating_from_score,
    severity_from_cvss,
    severity_from_label,
    severity_of_osv,
)
from harbourmaster.errors import BadInput


def test_severities_are_ordered() -> None:
    assert sorted(Severity, reverse=True) == [
        Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.NEGLIGIBLE,
        Severity.NONE, Severity.UNKNOWN,
    ]
    assert Severity.HIGH >= Severity.HIGH > Severity.MEDIUM
    assert max([Severity.LOW, Severity.CRITICAL, Severity.UNKNOWN]) is Severity.CRITICAL
    assert Severity.CRITICAL.rank == 6


@pytest.mark.parametrize("text", ["high", "HIGH", " High ", "critical", "unknown", "Negligible"])
def test_parse_accepts_names_case_insensitively(text: str) -> None:
    assert Severity.parse(text).value.lower() == text.strip().lower()


def test_parse_rejects_unknown_names() -> None:
    with pytest.raises(BadInput) as caught:
        Severity.parse("severe")
    assert "'severe'" in str(caught.value)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, Severity.NONE), (0.1, Severity.LOW), (3.9, Severity.LOW), (4.0, Severity.MEDIUM),
        (6.9, Severity.MEDIUM), (7.0, Severity.HIGH), (8.9, Severity.HIGH), (9.0, Severity.CRITICAL),
        (10.0, Severity.CRITICAL), (10, Severity.CRITICAL),
    ],
)
def test_first_qualitative_scale_boundaries(score: float, expected: Severity) -> None:
    assert rating_from_score(score) is expected


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0.0, Severity.LOW), (3.9, Severity.LOW), (4.0, Severity.MEDIUM), (10.0, Severity.HIGH)],
)
def test_nvd_v2_scale(score: float, expected: Severity) -> None:
    assert rating_from_score(score, cvss_version=2) is expected


@pytest.mark.parametrize("score", [-0.1, 10.1, math.nan, math.inf, "7.0", True])
def test_scores_outside_the_scale_are_bad_input(score: object) -> None:
    with pytest.raises(BadInput):
        rating_from_score(score)  # type: ignore[arg-type]


# Base scores as published by FIRST's calculators / NVD for these vectors.
VECTORS = [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, Severity.CRITICAL, "CVSS_V3"),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, Severity.MEDIUM, "CVSS_V3"),
    ("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, Severity.HIGH, "CVSS_V3"),
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, Severity.MEDIUM, "CVSS_V3"),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, Severity.LOW, "CVSS_V3"),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, Severity.NONE, "CVSS_V3"),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3, Severity.CRITICAL, "CVSS_V4"),
    ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0, Severity.NONE, "CVSS_V4"),
    ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, Severity.HIGH, "CVSS_V2"),
    ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3, Severity.MEDIUM, "CVSS_V2"),
]


@pytest.mark.parametrize(("vector", "score", "expected", "source"), VECTORS)
def test_cvss_vectors(vector: str, score: float, expected: Severity, source: str) -> None:
    rating = severity_from_cvss(vector)
    assert rating.score == pytest.approx(score)
    assert rating.severity is expected
    assert rating.source == source
    assert rating.reason is None


@pytest.mark.parametrize(
    "vector",
    ["", "   ", "CVSS:3.1/AV:N", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:9.0/AV:N",
     "CVSS:4.0/AV:N/AC:L", "garbage", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/A:H"],
)
def test_malformed_vectors_are_unknown_with_a_reason(vector: str) -> None:
    rating = severity_from_cvss(vector)
    assert rating.severity is Severity.UNKNOWN
    assert rating.reason
    assert rating.score is None


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(lambda v, cut, junk: v[:cut] + junk, st.sampled_from([v for v, *_ in VECTORS]),
                  st.integers(0, 70), st.text(alphabet="AVCNLHPRUSI:/.0134X", max_size=8)),
    )
)
def test_cvss_never_raises(vector: str) -> None:
    rating = severity_from_cvss(vector)
    assert isinstance(rating.severity, Severity)
    assert (rating.severity is Severity.UNKNOWN) == (rating.score is None)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("CRITICAL", Severity.CRITICAL), ("High", Severity.HIGH), ("important", Severity.HIGH),
        ("moderate", Severity.MEDIUM), ("MODERATE", Severity.MEDIUM), ("medium", Severity.MEDIUM),
        ("low", Severity.LOW), ("negligible", Severity.NEGLIGIBLE), ("unimportant", Severity.NEGLIGIBLE),
        ("not yet assigned", Severity.UNKNOWN), ("untriaged", Severity.UNKNOWN),
    ],
)
def test_database_labels(label: str, expected: Severity) -> None:
    assert severity_from_label(label).severity is expected


def test_unrecognised_label_is_unknown_with_reason() -> None:
    rating = severity_from_label("spicy", source="Debian")
    assert rating.severity is Severity.UNKNOWN
    assert "spicy" in (rating.reason or "")
    assert rating.source == "Debian"


def test_osv_prefers_v4_then_v3_then_label() -> None:
    v3 = ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N")
    v4 = ("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert severity_of_osv([v3, v4], label="low").source == "CVSS_V4"
    assert severity_of_osv([v3], label="critical").severity is Severity.MEDIUM
    assert severity_of_osv([("CVSS_V3", "broken")], label="important").severity is Severity.HIGH
    assert severity_of_osv([("Ubuntu", "medium")]).severity is Severity.MEDIUM


def test_osv_without_usable_severity_is_unknown_and_says_why() -> None:
    rating = severity_of_osv([("CVSS_V3", "broken")], label="whatever")
    assert rating.severity is Severity.UNKNOWN
    assert "CVSS_V3" in (rating.reason or "") and "whatever" in (rating.reason or "")
    assert severity_of_osv([]).reason == "the record gives no severity"


def test_public_names_are_pinned() -> None:
    assert set(severity_module.__all__) == {
        "Severity", "SeverityRating", "rating_from_score", "severity_from_cvss", "severity_from_label",
        "severity_of_osv",
    }
