"""The maturity assessment: how far a registry set-up is from the seed's model (chapter 5).

A service gathers :class:`AssessmentFacts` from the live system; :func:`assess` judges them against
each key decision Ch5-D-01 to Ch5-D-09 (met, partly met, not met, with evidence naming the objects and
the change that would meet it) and against the maturity levels.  Decisions and levels are data
(:data:`DECISIONS`, :data:`LEVELS`) so a report can list them.

The seed's first scenario (Level 1: teams pull from any source, no approved list) names no control, so
Level 1 requires none; its air-gapped scenario after Level 4 is not one of the levels 1-4 assessed here.
"""

from __future__ import annotations

from harbourmaster.domain.assessment.decisions import DECISIONS
from harbourmaster.domain.assessment.facts import (
    CORRELATION_MAX_AGE_HOURS,
    MIRROR_MAX_INTERVAL_DAYS,
    AssessmentFacts,
    AuditFacts,
    CoverageFacts,
    DeploymentFacts,
    EnvironmentFacts,
    GrantFacts,
    Hosting,
    MirrorScheduleFacts,
    RegistryFacts,
    Status,
)
from harbourmaster.domain.assessment.levels import LEVELS, assess
from harbourmaster.domain.assessment.results import (
    Assessment,
    ControlResult,
    Decision,
    DecisionResult,
    Level,
    LevelControl,
    LevelResult,
    Outcome,
)

__all__ = [
    "CORRELATION_MAX_AGE_HOURS",
    "DECISIONS",
    "LEVELS",
    "MIRROR_MAX_INTERVAL_DAYS",
    "Assessment",
    "AssessmentFacts",
    "AuditFacts",
    "ControlResult",
    "CoverageFacts",
    "Decision",
    "DecisionResult",
    "DeploymentFacts",
    "EnvironmentFacts",
    "GrantFacts",
    "Hosting",
    "Level",
    "LevelControl",
    "LevelResult",
    "MirrorScheduleFacts",
    "Outcome",
    "RegistryFacts",
    "Status",
    "assess",
]
