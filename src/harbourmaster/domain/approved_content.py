"""The tier rule "approved content only" (``require_approved_content``), part of the verdict's source.

On a tier that requires it, an image is admitted only when its digest is approved content of the registry
it is pulled from: what ``harbourmaster airgap import`` recorded for that registry after verifying a
signed bundle.  It is a rule about where content comes from, so it is judged with the source: an image it
denies is neither scanned nor verified.  It fails closed: an image whose digest is not known, or that no
import recorded for its registry, is denied with the reason and what makes content approved.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from harbourmaster.domain.decision import Decision
from harbourmaster.domain.tiers import TierPolicy

__all__ = ["approval_wanted", "approved_source"]


def approval_wanted(decision: Decision, policy: TierPolicy) -> tuple[str, str] | None:
    """The (registry, digest) whose approval decides ``decision`` on ``policy``'s tier; None when the rule
    does not apply (the tier does not require it, the source already denies, or the digest is unknown)."""
    if not policy.require_approved_content or not decision.allowed:
        return None
    if decision.registry is None or decision.digest is None:
        return None
    return decision.registry, decision.digest


def approved_source(
    decision: Decision, policy: TierPolicy, approved: Collection[tuple[str, str]]
) -> Decision:
    """``decision`` under the tier's approved-content rule, given the (registry, digest) pairs of
    ``approved`` that are approved content.  Unchanged when the tier does not require approved content or
    the source denies already; otherwise allowed with the reason that the digest is approved, or denied
    with why.  Never raises."""
    if not policy.require_approved_content or not decision.allowed:
        return decision
    tier = policy.tier.value
    rule = f"the {tier} tier admits only approved content (require_approved_content: true)"
    registry = decision.registry
    if registry is None or decision.digest is None:
        why = f" ({decision.digest_error})" if decision.digest_error else ""
        reason = (
            f"{rule}, and the digest of {decision.image} is not known{why}, so it cannot be matched "
            f"against the approved content of registry {registry or '(unknown)'}"
        )
        return replace(decision, allowed=False, reasons=(*decision.reasons, reason))
    if (registry, decision.digest) in approved:
        reason = f"{decision.digest} is approved content of registry {registry} (recorded by airgap import)"
        return replace(decision, reasons=(*decision.reasons, reason))
    reason = (
        f"{rule}, and {decision.digest} is not approved content of registry {registry}: content becomes "
        f"approved when a signed bundle carrying it is imported with "
        f"`harbourmaster airgap import BUNDLE --to {registry}`"
    )
    return replace(decision, allowed=False, reasons=(*decision.reasons, reason))
