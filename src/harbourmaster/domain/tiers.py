"""Tier policies: the severity thresholds, unscanned-image rule, signature rule and approved-content rule
of each tier.

One definition serves every enforcement point (D-07): the push gate, the
admission controller and the CLI scanner all evaluate findings through
:func:`harbourmaster.domain.findings.evaluate` (allowlist, ``ignore_unfixed``,
then :meth:`TierPolicy.blocks` and :meth:`TierPolicy.advises` on each finding's
:func:`~harbourmaster.domain.findings.threshold_level`), so thresholds cannot
drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Final

from harbourmaster.domain.model import Tier
from harbourmaster.domain.signers import SignerPolicy, SignersRequired
from harbourmaster.errors import BadInput

__all__ = [
    "DEFAULT_TIER_POLICIES",
    "THRESHOLD_LEVELS",
    "TierPolicy",
    "TierPolicyError",
    "UnscannedRule",
    "threshold_rank",
]

#: Threshold names, weakest first.  "none" disables a threshold.
THRESHOLD_LEVELS: Final[tuple[str, ...]] = ("none", "low", "medium", "high", "critical")


class TierPolicyError(BadInput):
    pass


class UnscannedRule(StrEnum):
    """What a tier does with an image whose digest has no stored scan."""

    #: Deny it: only scanned images run here.
    BLOCK = "block"
    #: Allow it (the vulnerability part says it is unscanned).
    ALLOW = "allow"
    #: Scan it now, within the verdict's time budget; an image not scanned in time is denied.
    SCAN = "scan"


def threshold_rank(level: str, *, field: str = "severity") -> int:
    """The rank of a threshold name (higher is more severe).

    Raises:
        TierPolicyError: ``level`` is not one of :data:`THRESHOLD_LEVELS`.
    """
    try:
        return THRESHOLD_LEVELS.index(level.lower())
    except ValueError:
        raise TierPolicyError(
            f"{field}: {level!r} is not a severity; use one of {', '.join(THRESHOLD_LEVELS)}"
        ) from None


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """What a tier demands of an image before it may run there."""

    tier: Tier
    #: Findings at or above this severity block the image ("none": never block).
    block_severity: str
    #: Findings at or above this severity (and below the block level) are reported as advisories.
    advisory_severity: str | None
    require_signature: bool
    #: Ignore findings that have no fixed version yet.
    ignore_unfixed: bool = False
    #: The trusted signers (names from the ``signing`` section) whose signatures this tier accepts.
    signers: tuple[str, ...] = ()
    #: Whether ``any`` one of ``signers`` or ``all`` of them must have signed.
    signers_required: SignersRequired = SignersRequired.ANY
    #: What the verdict does with an image that has no stored scan.
    unscanned: UnscannedRule = UnscannedRule.BLOCK
    #: Admit only images whose digest an air-gap import made approved content of their registry.
    require_approved_content: bool = False

    def __post_init__(self) -> None:
        block = threshold_rank(self.block_severity, field=f"tiers.{self.tier.value}.block_severity")
        if self.advisory_severity is not None:
            advisory = threshold_rank(
                self.advisory_severity, field=f"tiers.{self.tier.value}.advisory_severity"
            )
            if block != 0 and advisory > block:
                raise TierPolicyError(
                    f"tiers.{self.tier.value}.advisory_severity: {self.advisory_severity} is above the "
                    f"block severity {self.block_severity}; an advisory level must be at or below it"
                )

    def blocks(self, severity: str) -> bool:
        """Whether a finding of ``severity`` blocks the image on this tier."""
        rank = THRESHOLD_LEVELS.index(severity.lower()) if severity.lower() in THRESHOLD_LEVELS else 0
        block = threshold_rank(self.block_severity)
        return block != 0 and rank >= block

    def advises(self, severity: str) -> bool:
        """Whether a non-blocking finding of ``severity`` is reported as an advisory."""
        if self.advisory_severity is None or self.blocks(severity):
            return False
        rank = THRESHOLD_LEVELS.index(severity.lower()) if severity.lower() in THRESHOLD_LEVELS else 0
        return rank != 0 and rank >= threshold_rank(self.advisory_severity)

    def with_changes(
        self,
        *,
        block_severity: str | None = None,
        advisory_severity: str | None = None,
        require_signature: bool | None = None,
        ignore_unfixed: bool | None = None,
        signers: list[str] | tuple[str, ...] | None = None,
        signers_required: str | None = None,
        unscanned: str | None = None,
        require_approved_content: bool | None = None,
    ) -> TierPolicy:
        return replace(
            self,
            block_severity=self.block_severity if block_severity is None else block_severity.lower(),
            advisory_severity=(
                self.advisory_severity if advisory_severity is None else advisory_severity.lower()
            ),
            require_signature=self.require_signature if require_signature is None else require_signature,
            ignore_unfixed=self.ignore_unfixed if ignore_unfixed is None else ignore_unfixed,
            signers=self.signers if signers is None else tuple(signers),
            signers_required=(
                self.signers_required if signers_required is None else SignersRequired(signers_required)
            ),
            unscanned=self.unscanned if unscanned is None else _unscanned_rule(self.tier, unscanned),
            require_approved_content=(
                self.require_approved_content
                if require_approved_content is None
                else require_approved_content
            ),
        )

    def signer_policy(self) -> SignerPolicy:
        """Which signatures an image needs on this tier."""
        return SignerPolicy(self.signers, self.signers_required, require_signature=self.require_signature)


def _unscanned_rule(tier: Tier, text: str) -> UnscannedRule:
    try:
        return UnscannedRule(text.lower())
    except ValueError:
        raise TierPolicyError(
            f"tiers.{tier.value}.unscanned: {text!r} is not a rule; use one of "
            f"{', '.join(r.value for r in UnscannedRule)}"
        ) from None


#: D-07's baseline: block Critical everywhere, High in staging and production,
#: Medium advisory in development; D-04: signatures required in production.  D-03: staging and
#: production judge only scanned images (an unscanned one is scanned at once, within the verdict's
#: time budget); development lets unscanned images run, saying so.
DEFAULT_TIER_POLICIES: Final[dict[Tier, TierPolicy]] = {
    Tier.DEVELOPMENT: TierPolicy(
        Tier.DEVELOPMENT, "critical", "medium", require_signature=False, unscanned=UnscannedRule.ALLOW
    ),
    Tier.STAGING: TierPolicy(
        Tier.STAGING, "high", "medium", require_signature=False, unscanned=UnscannedRule.SCAN
    ),
    Tier.PRODUCTION: TierPolicy(
        Tier.PRODUCTION, "high", "medium", require_signature=True, unscanned=UnscannedRule.SCAN
    ),
}
