"""A CVSS vector for a stored base score: each is of the source's CVSS version and scores exactly
that, by the ``cvss`` library the importer rates vectors with (the differential check)."""

from __future__ import annotations

import pytest
from cvss import CVSS4

from harbourmaster.domain.cvss_vectors import _V4, vector_for_score
from harbourmaster.domain.severity import severity_from_cvss


def test_every_kept_cvss4_vector_scores_as_keyed() -> None:
    for score, vector in _V4.items():
        assert float(CVSS4(f"CVSS:4.0/{vector}").base_score) == score


@pytest.mark.parametrize(
    ("source", "prefix"), [("CVSS_V2", "AV:"), ("CVSS_V3", "CVSS:3."), ("CVSS_V4", "CVSS:4.0/")]
)
@pytest.mark.parametrize("score", [0.0, 1.8, 4.3, 5.4, 7.5, 9.0, 9.8, 10.0])
def test_a_vector_rates_as_its_score_in_its_version(source: str, prefix: str, score: float) -> None:
    vector = vector_for_score(source, score)
    if vector is None:  # not every score is reachable in every version
        assert (source, score) in {("CVSS_V2", 9.8), ("CVSS_V4", 9.8)}
        return
    rating = severity_from_cvss(vector)
    assert vector.startswith(prefix) and rating.source == source and rating.score == score


def test_no_vector_for_a_label_source() -> None:
    assert vector_for_score("UBUNTU", 5.0) is None
    assert vector_for_score("database_specific", 7.5) is None
