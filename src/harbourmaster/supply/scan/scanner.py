"""The scan pipeline: match components, apply VEX, then the domain's allowlist and tier rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harbourmaster.domain.findings import evaluate
from harbourmaster.domain.model import AllowlistEntry
from harbourmaster.domain.tiers import TierPolicy
from harbourmaster.supply.advisories import AdvisoryIndex
from harbourmaster.supply.scan.components import Component
from harbourmaster.supply.scan.matcher import Matcher
from harbourmaster.supply.scan.reports import ScannerReport
from harbourmaster.supply.scan.result import ScanResult
from harbourmaster.supply.scan.vex import VexStatement, apply_vex

__all__ = ["Judgement", "Scanner", "evaluate_report"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Judgement:
    """What findings are judged against: the environment's tier policy (if any), the allowlist, the
    image's registry (for registry-scoped entries), today, and VEX statements."""

    environment: str | None = None
    policy: TierPolicy | None = None
    allowlist: tuple[AllowlistEntry, ...] = ()
    registry: str | None = None
    today: dt.date
    vex: tuple[VexStatement, ...] = ()


class Scanner:
    """Scans components against an advisory index and judges the findings."""

    def __init__(self, *, advisories: AdvisoryIndex) -> None:
        self.matcher = Matcher(advisories)

    def scan(
        self,
        components: Iterable[Component],
        *,
        target: str,
        image_name: str,
        image_digest: str,
        judgement: Judgement,
        image_ids: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> ScanResult:
        """Match, suppress and judge.  Never raises for anything in the components."""
        matched = self.matcher.match(components)
        ids = (*image_ids, image_name, image_digest, f"{image_name}@{image_digest}")
        findings, verdict = evaluate(
            apply_vex(matched.findings, judgement.vex, image_ids=ids),
            policy=judgement.policy,
            allowlist=judgement.allowlist,
            registry=judgement.registry,
            today=judgement.today,
        )
        return ScanResult(
            target=target,
            image_name=image_name,
            image_digest=image_digest,
            findings=findings,
            components=matched.components,
            unsupported=matched.unsupported,
            environment=judgement.environment,
            verdict=verdict,
            registry=judgement.registry,
            warnings=(*warnings, *matched.warnings),
        )


def evaluate_report(
    report: ScannerReport, *, judgement: Judgement, target: str | None = None, image_digest: str | None = None
) -> ScanResult:
    """Judge another scanner's findings exactly as harbourmaster's own.  Never raises."""
    digest = image_digest or report.image_digest
    ids = (report.target, digest, f"{report.target}@{digest}")
    findings, verdict = evaluate(
        apply_vex(report.findings, judgement.vex, image_ids=ids),
        policy=judgement.policy,
        allowlist=judgement.allowlist,
        registry=judgement.registry,
        today=judgement.today,
    )
    return ScanResult(
        target=target or report.target,
        image_name=report.target,
        image_digest=digest,
        findings=findings,
        components=len({f.package.purl for f in report.findings}),
        environment=judgement.environment,
        verdict=verdict,
        registry=judgement.registry,
        source=report.tool,
    )
