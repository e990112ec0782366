"""The maturity assessment's answer: one model, the API's ``response_model`` and the CLI's ``--format json``
(see :mod:`harbourmaster.services.results` for the contract)."""

from __future__ import annotations

import datetime as dt
from functools import cache
from typing import Literal

import jinja2
from pydantic import BaseModel

from harbourmaster.domain.assessment import Assessment, ControlResult, DecisionResult, LevelResult

__all__ = ["AssessedDecisionPublic", "AssessmentPublic", "ControlPublic", "LevelPublic"]


class AssessedDecisionPublic(BaseModel):
    """One key decision (Ch5-D-01 to D-09): its status, the evidence (shortfalls first), the shortfalls,
    and the changes that would meet it (governance-document snippets or commands)."""

    id: str
    title: str
    status: Literal["met", "partly met", "not met"]
    evidence: list[str]
    shortfalls: list[str]
    remedies: list[str]

    @classmethod
    def of(cls, d: DecisionResult) -> AssessedDecisionPublic:
        return cls(
            id=d.id,
            title=d.title,
            status=d.status.value,
            evidence=list(d.evidence),
            shortfalls=list(d.shortfalls),
            remedies=list(d.remedies),
        )


class ControlPublic(BaseModel):
    id: str
    text: str
    met: bool
    shortfalls: list[str]

    @classmethod
    def of(cls, c: ControlResult) -> ControlPublic:
        return cls(id=c.id, text=c.text, met=c.met, shortfalls=list(c.shortfalls))


class LevelPublic(BaseModel):
    number: int
    summary: str
    met: bool
    controls: list[ControlPublic]

    @classmethod
    def of(cls, lvl: LevelResult) -> LevelPublic:
        return cls(
            number=lvl.number,
            summary=lvl.summary,
            met=lvl.met,
            controls=[ControlPublic.of(c) for c in lvl.controls],
        )


class AssessmentPublic(BaseModel):
    """The assessment of the live configuration against the seed's key decisions and maturity levels."""

    assessed_at: dt.datetime
    #: The model revision assessed.
    revision: int
    #: The highest level whose every control (and every lower level's) is met; 0 if none is.
    level: int
    decisions: list[AssessedDecisionPublic]
    levels: list[LevelPublic]
    #: Facts harbourmaster does not model, taken by default rather than observed.
    assumed: list[str]
    #: The running enforcement points asked for their fingerprints (``layer url``); none: not observed.
    layers: list[str]

    @classmethod
    def of(
        cls,
        result: Assessment,
        *,
        assessed_at: dt.datetime,
        revision: int,
        assumed: tuple[str, ...],
        layers: tuple[str, ...],
    ) -> AssessmentPublic:
        return cls(
            assessed_at=assessed_at,
            revision=revision,
            level=result.level,
            decisions=[AssessedDecisionPublic.of(d) for d in result.decisions],
            levels=[LevelPublic.of(lvl) for lvl in result.levels],
            assumed=list(assumed),
            layers=list(layers),
        )

    def html(self) -> str:
        """The report as one standalone HTML document (Jinja2, autoescaped): inline CSS, no script, no
        external asset.  Raises nothing."""
        return _templates().get_template("assessment.html.j2").render(a=self)


@cache
def _templates() -> jinja2.Environment:
    # Autoescaped whatever the template's name: every value in the report is text.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harbourmaster.services", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
