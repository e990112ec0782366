"""Which signers an image needs, and whether the signatures that verified satisfy that.

A tier names its trusted signers (keys and keyless identities, by name) and
whether ``any`` one of them or ``all`` of them must have signed.  The policy is
pure: it counts the signer names whose signatures verified, and says why it is
or is not met.  A tier that requires a signature but names no signers is never
satisfied: nothing harbourmaster does not understand is allowed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SignerPolicy", "SignerVerdict", "SignersRequired"]


class SignersRequired(StrEnum):
    ANY = "any"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class SignerVerdict:
    satisfied: bool
    reason: str


@dataclass(frozen=True, slots=True)
class SignerPolicy:
    """``signers`` (names) of which ``required`` (any/all) must have verified; ``require_signature``
    false means no signature is needed (what verified is still reported)."""

    signers: tuple[str, ...]
    required: SignersRequired = SignersRequired.ANY
    require_signature: bool = True

    def evaluate(self, verified: Iterable[str]) -> SignerVerdict:
        """Whether signatures by ``verified`` signer names satisfy this policy, and why."""
        done = set(verified) & set(self.signers)
        if not self.require_signature:
            return SignerVerdict(
                True,
                "no signature is required" + (f"; verified by {', '.join(sorted(done))}" if done else ""),
            )
        if not self.signers:
            return SignerVerdict(False, "a signature is required but no trusted signer is configured")
        if self.required is SignersRequired.ALL:
            missing = [s for s in self.signers if s not in done]
            if missing:
                return SignerVerdict(
                    False,
                    f"all of {', '.join(self.signers)} must sign; no valid signature by {', '.join(missing)}",
                )
            return SignerVerdict(True, f"signed by all of {', '.join(self.signers)}")
        if done:
            return SignerVerdict(True, f"signed by {', '.join(sorted(done))}")
        return SignerVerdict(False, f"no valid signature by any of {', '.join(self.signers)}")
