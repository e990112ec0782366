"""The rules an enforcement point applies to an image, and their fingerprint (D-07).

Every enforcement point (the CLI scan in CI, ``check``, the admission webhook, the pull
gate, deployments) judges images by the same rules: whether the tier admits only approved
content, the tier's thresholds, the allowlist entries in force, what is done with unscanned
images, and the signers the tier requires.
:class:`EffectivePolicy` is those rules for one environment (or, for CI jobs with
none, one tier), and its :attr:`~EffectivePolicy.fingerprint` is the SHA-256 of their
canonical JSON: two points reporting the same fingerprint enforce the same rules, and a mismatch is visible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.model import Environment, Tier
from harbourmaster.domain.signing_trust import SigningTrust
from harbourmaster.domain.state import GovernanceState

__all__ = ["EffectivePolicy", "effective_policy"]

#: Bumped when the canonical form changes, so old and new fingerprints never collide.
POLICY_FORMAT = 3


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """What an image is judged by on one environment (or tier), as of one day."""

    environment: str | None
    tier: Tier
    block_severity: str
    advisory_severity: str | None
    ignore_unfixed: bool
    #: What is done with an image that has no stored scan (block, allow, scan).
    unscanned: str
    require_signature: bool
    signers: tuple[str, ...]
    signers_required: str
    #: (advisory, registry or None, last day) of every allowlist entry in force.
    allowlist: tuple[tuple[str, str | None, str], ...]
    #: SHA-256 of the trust material of ``signers`` (keys, identities, trusted root, Notation).
    trust_fingerprint: str
    #: Only images whose digest is approved content of their registry (an air-gap import) are admitted.
    require_approved_content: bool = False

    def canonical(self) -> dict[str, Any]:
        """The rules as JSON data, without the environment's name (two environments of one tier
        with the same rules have the same fingerprint)."""
        return {
            "format": POLICY_FORMAT,
            "tier": self.tier.value,
            "source": {"require_approved_content": self.require_approved_content},
            "vulnerabilities": {
                "block_severity": self.block_severity,
                "advisory_severity": self.advisory_severity,
                "ignore_unfixed": self.ignore_unfixed,
                "unscanned": self.unscanned,
                "allowlist": [list(entry) for entry in self.allowlist],
            },
            "signatures": {
                "require_signature": self.require_signature,
                "signers": list(self.signers),
                "signers_required": self.signers_required,
                "trust": self.trust_fingerprint,
            },
        }

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the canonical rules (sorted keys, no whitespace)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def effective_policy(
    state: GovernanceState, *, tier: Tier, environment: Environment | None = None, today: dt.date
) -> EffectivePolicy:
    """The rules of ``environment`` (whose tier is ``tier``), or of ``tier`` alone, on ``today``."""
    policy = state.tiers[tier]
    signing: SigningTrust = state.signing
    allowlist = tuple(
        sorted(
            (entry.advisory, entry.registry, entry.expires.isoformat())
            for entry in state.allowlist
            if entry.active(today)
        )
    )
    return EffectivePolicy(
        environment=environment.name if environment is not None else None,
        tier=tier,
        block_severity=policy.block_severity,
        advisory_severity=policy.advisory_severity,
        ignore_unfixed=policy.ignore_unfixed,
        unscanned=policy.unscanned.value,
        require_signature=policy.require_signature,
        signers=policy.signers,
        signers_required=policy.signers_required.value,
        allowlist=allowlist,
        trust_fingerprint=signing.fingerprint(policy.signers) if policy.signers else "",
        require_approved_content=policy.require_approved_content,
    )
