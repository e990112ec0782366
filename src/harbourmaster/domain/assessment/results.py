"""What an assessment answers: per decision and per level control, with the evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harbourmaster.domain.assessment.facts import AssessmentFacts, Status


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check found: evidence that complies, shortfalls that do not, and the changes to make."""

    status: Status
    passes: tuple[str, ...] = ()
    shortfalls: tuple[str, ...] = ()
    remedies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    title: str
    check: Callable[[AssessmentFacts], Outcome]


@dataclass(frozen=True, slots=True)
class DecisionResult:
    id: str
    title: str
    status: Status
    #: Shortfalls first, then what complies; each names its environment, registry, tier or credential.
    evidence: tuple[str, ...]
    shortfalls: tuple[str, ...]
    #: Governance-document snippets or ``harbourmaster`` commands that would meet the decision.
    remedies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LevelControl:
    id: str
    text: str
    check: Callable[[AssessmentFacts], Outcome]


@dataclass(frozen=True, slots=True)
class Level:
    number: int
    summary: str
    controls: tuple[LevelControl, ...]


@dataclass(frozen=True, slots=True)
class ControlResult:
    id: str
    text: str
    met: bool
    shortfalls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LevelResult:
    number: int
    summary: str
    met: bool
    controls: tuple[ControlResult, ...]


@dataclass(frozen=True, slots=True)
class Assessment:
    decisions: tuple[DecisionResult, ...]
    levels: tuple[LevelResult, ...]
    #: The highest level whose every control (and every lower level's) is met; 0 if Level 1 is not.
    level: int
