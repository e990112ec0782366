"""Severity of an advisory: from CVSS vectors, or from a database's own label.

Scores map to FIRST's qualitative scale for CVSS v3.x and v4.0 (0 None,
0.1-3.9 Low, 4.0-6.9 Medium, 7.0-8.9 High, 9.0-10.0 Critical) and to NVD's
scale for CVSS v2 (0-3.9 Low, 4.0-6.9 Medium, 7.0-10.0 High).  Scoring is done
by the ``cvss`` library (Red Hat's), imported only here.  Nothing in this module
raises on bad input from an advisory: an unusable vector or label gives
``Severity.UNKNOWN`` and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from functools import total_ordering

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from harbourmaster.errors import BadInput

__all__ = [
    "Severity",
    "SeverityRating",
    "rating_from_score",
    "severity_from_cvss",
    "severity_from_label",
    "severity_of_osv",
]


@total_ordering
class Severity(Enum):
    """How bad a finding is, ordered ``UNKNOWN < NONE < NEGLIGIBLE < LOW < MEDIUM < HIGH < CRITICAL``.

    ``UNKNOWN`` sorts lowest so that a threshold such as "fail on HIGH" never
    trips on it by accident; policies that want to block unknowns say so.
    """

    UNKNOWN = "Unknown"
    NONE = "None"
    NEGLIGIBLE = "Negligible"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    CRITICAL = "Critical"

    @property
    def rank(self) -> int:
        """0 for UNKNOWN up to 6 for CRITICAL."""
        return _RANKS[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Severity):
            return NotImplemented
        return _RANKS[self] < _RANKS[other]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named ``text`` (case-insensitive member name or value, e.g. ``"high"``).

        Raises:
            BadInput: ``text`` names no severity.
        """
        wanted = text.strip().lower() if isinstance(text, str) else ""
        for member in cls:
            if wanted in (member.name.lower(), member.value.lower()):
                return member
        raise BadInput(
            f"unknown severity {text!r}",
            details=["expected one of: " + ", ".join(m.value.lower() for m in cls)],
        )


_RANKS = {member: rank for rank, member in enumerate(Severity)}


@dataclass(frozen=True, slots=True)
class SeverityRating:
    """A severity with where it came from: ``source`` is e.g. ``"CVSS_V3"`` or ``"GitHub label"``.

    ``score`` is the CVSS base score when there is one; ``reason`` says why the
    severity is UNKNOWN (or ``None``).
    """

    severity: Severity
    source: str
    score: float | None = None
    vector: str | None = None
    reason: str | None = None


def rating_from_score(score: float, *, cvss_version: int = 3) -> Severity:
    """The qualitative rating of a CVSS base score.

    FIRST's v3/v4 scale, or NVD's v2 scale when ``cvss_version`` is 2.

    Raises:
        BadInput: ``score`` is not a number between 0.0 and 10.0.
    """
    if isinstance(score, bool) or not isinstance(score, int | float) or math.isnan(score):
        raise BadInput(f"CVSS score {score!r} is not a number")
    if not 0.0 <= score <= 10.0:
        raise BadInput(f"CVSS score {score} is outside 0.0-10.0")
    if cvss_version == 2:
        return Severity.LOW if score < 4.0 else Severity.MEDIUM if score < 7.0 else Severity.HIGH
    if score == 0.0:
        return Severity.NONE
    if score < 4.0:
        return Severity.LOW
    if score < 7.0:
        return Severity.MEDIUM
    if score < 9.0:
        return Severity.HIGH
    return Severity.CRITICAL


_CVSS_ERRORS = (CVSSError, ValueError, KeyError, IndexError, ArithmeticError, TypeError, AttributeError)


def severity_from_cvss(vector: str) -> SeverityRating:
    """The severity of a CVSS vector: ``CVSS:4.0/...``, ``CVSS:3.x/...``, or a bare v2 vector.

    Never raises: a malformed vector gives UNKNOWN with the reason.
    """
    if not isinstance(vector, str) or not vector.strip():
        return SeverityRating(Severity.UNKNOWN, "CVSS", reason="the CVSS vector is empty")
    text = vector.strip()
    try:
        if text.startswith("CVSS:4."):
            version, source, score = 4, "CVSS_V4", CVSS4(text).base_score
        elif text.startswith("CVSS:3."):
            version, source, score = 3, "CVSS_V3", CVSS3(text).base_score
        elif text.startswith("CVSS:"):
            return SeverityRating(
                Severity.UNKNOWN, "CVSS", vector=text, reason="unsupported CVSS version in the vector prefix"
            )
        else:
            version, source, score = 2, "CVSS_V2", CVSS2(text).base_score
        value = float(score)
        return SeverityRating(rating_from_score(value, cvss_version=version), source, value, text)
    except (*_CVSS_ERRORS, BadInput) as exc:
        return SeverityRating(
            Severity.UNKNOWN, "CVSS", vector=text, reason=f"malformed CVSS vector: {exc}"
        )


# Labels used by advisory databases, lower-cased.
_LABELS = {
    "critical": Severity.CRITICAL,
    "urgent": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,  # Red Hat, SUSE
    "medium": Severity.MEDIUM,  # Ubuntu, Debian
    "moderate": Severity.MEDIUM,  # GitHub, Red Hat, SUSE
    "low": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,  # Ubuntu
    "unimportant": Severity.NEGLIGIBLE,  # Debian
    "none": Severity.NONE,
    "unknown": Severity.UNKNOWN,
    "untriaged": Severity.UNKNOWN,  # Ubuntu
    "not yet assigned": Severity.UNKNOWN,  # Debian
    "unassigned": Severity.UNKNOWN,
}


def severity_from_label(label: str, *, source: str = "label") -> SeverityRating:
    """Map a database's severity label (``"CRITICAL"``, ``"High"``, ``"moderate"``, ``"important"``,
    ``"negligible"``, ``"unimportant"``, ...) to a severity.

    Never raises: an unrecognised label gives UNKNOWN with the reason.
    """
    if not isinstance(label, str) or not label.strip():
        return SeverityRating(Severity.UNKNOWN, source, reason="the severity label is empty")
    severity = _LABELS.get(" ".join(label.split()).lower())
    if severity is None:
        shown = label if len(label) <= 40 else label[:37] + "..."
        return SeverityRating(Severity.UNKNOWN, source, reason=f"unrecognised severity label {shown!r}")
    reason = "the database gives no severity" if severity is Severity.UNKNOWN else None
    return SeverityRating(severity, source, reason=reason)


_CVSS_TYPES = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


def severity_of_osv(
    severity: Iterable[tuple[str, str]] = (), *, label: str | None = None, label_source: str = "label"
) -> SeverityRating:
    """The severity of an OSV record from its ``severity`` entries (``(type, score)`` pairs) and its
    database-specific ``label``.

    Preference: a valid CVSS v4 vector, then v3, then v2, then the label; when
    none gives a severity, UNKNOWN with the reasons.  Entries of other types
    (e.g. ``("Ubuntu", "medium")``) count as labels.  Never raises.
    """
    by_type: dict[str, list[str]] = {}
    for entry_type, score in severity:
        by_type.setdefault(str(entry_type).upper(), []).append(score)
    reasons: list[str] = []
    for cvss_type in _CVSS_TYPES:
        for vector in by_type.pop(cvss_type, []):
            rating = severity_from_cvss(vector)
            if rating.severity is not Severity.UNKNOWN:
                return rating
            reasons.append(f"{cvss_type}: {rating.reason}")
    labels = [(entry_type, score) for entry_type, scores in by_type.items() for score in scores]
    if label is not None:
        labels.insert(0, (label_source, label))
    for source, text in labels:
        rating = severity_from_label(text, source=source)
        if rating.severity is not Severity.UNKNOWN:
            return rating
        if rating.reason:
            reasons.append(f"{source}: {rating.reason}")
    return SeverityRating(
        Severity.UNKNOWN, "none", reason="; ".join(reasons) or "the record gives no severity"
    )
