"""``policy show`` and ``tier show``: the rules an environment (or a tier) judges images by, with the
fingerprint every enforcement point reports (see :mod:`harbourmaster.domain.effective_policy`)."""

from __future__ import annotations

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.effective_policy import effective_policy
from harbourmaster.domain.model import Tier
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment

__all__ = ["PolicyPublic", "show_policy"]


class PolicyPublic(BaseModel):
    """The effective rules of an environment or tier, and their fingerprint."""

    environment: str | None
    tier: str
    fingerprint: str
    block_severity: str
    advisory_severity: str | None
    ignore_unfixed: bool
    unscanned: str
    require_signature: bool
    signers: list[str]
    signers_required: str
    allowlist: list[dict[str, str | None]]
    trust_fingerprint: str
    #: Only approved content (recorded by ``airgap import`` for the image's registry) is admitted.
    require_approved_content: bool = False


def show_policy(
    hm: Harbourmaster, principal: Principal, *, environment: str | None = None, tier: Tier | None = None
) -> PolicyPublic:
    """The rules of ``environment``, or of ``tier`` (exactly one of them), as of today.

    Raises:
        Forbidden: ``principal`` may not read the governance model.
        BadInput: neither or both given.
        NotFound: no such environment.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if (environment is None) == (tier is None):
        raise BadInput("name an environment or a tier (exactly one)")
    env = named_environment(hm.snapshot(), environment) if environment is not None else None
    chosen = env.tier if env is not None else tier
    assert chosen is not None
    rules = effective_policy(hm.state(), tier=chosen, environment=env, today=hm.today())
    return PolicyPublic(
        environment=rules.environment,
        tier=rules.tier.value,
        fingerprint=rules.fingerprint,
        block_severity=rules.block_severity,
        advisory_severity=rules.advisory_severity,
        ignore_unfixed=rules.ignore_unfixed,
        unscanned=rules.unscanned,
        require_signature=rules.require_signature,
        signers=list(rules.signers),
        signers_required=rules.signers_required,
        allowlist=[{"id": a, "registry": r, "expires": e} for a, r, e in rules.allowlist],
        trust_fingerprint=rules.trust_fingerprint,
        require_approved_content=rules.require_approved_content,
    )
