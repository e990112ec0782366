"""The effective verdict rules and their fingerprint: equal rules, equal fingerprints; any rule that
changes a verdict changes it; names that do not, do not."""

from __future__ import annotations

import dataclasses
import datetime as dt

from harbourmaster.domain.effective_policy import effective_policy
from harbourmaster.domain.model import AllowlistEntry, Environment, EnvironmentKind, Tier
from harbourmaster.domain.signing_trust import SigningTrust, TrustedKey
from harbourmaster.domain.state import GovernanceState

TODAY = dt.date(2026, 11, 29)
PROD_A = Environment("prod-a", EnvironmentKind.SWARM, Tier.PRODUCTION)
PROD_B = Environment("prod-b", EnvironmentKind.SWARM, Tier.PRODUCTION)


def _fingerprint(state: GovernanceState, env: Environment | None = PROD_A, today: dt.date = TODAY) -> str:
    return effective_policy(state, tier=Tier.PRODUCTION, environment=env, today=today).fingerprint


def test_environments_of_one_tier_and_the_tier_itself_share_the_fingerprint() -> None:
    state = GovernanceState(environments=(PROD_A, PROD_B))
    assert _fingerprint(state, PROD_A) == _fingerprint(state, PROD_B) == _fingerprint(state, None)
    assert _fingerprint(state).startswith("sha256:") and len(_fingerprint(state)) == 71


def test_every_rule_that_decides_a_verdict_changes_the_fingerprint() -> None:
    base = GovernanceState(environments=(PROD_A,))
    production = base.tiers[Tier.PRODUCTION]
    changed = [
        dataclasses.replace(
            base, tiers={**base.tiers, Tier.PRODUCTION: production.with_changes(block_severity="critical")}
        ),
        dataclasses.replace(
            base, tiers={**base.tiers, Tier.PRODUCTION: production.with_changes(ignore_unfixed=True)}
        ),
        dataclasses.replace(
            base, tiers={**base.tiers, Tier.PRODUCTION: production.with_changes(signers=["k"])}
        ),
        dataclasses.replace(base, allowlist=(AllowlistEntry("CVE-2026-1", dt.date(2027, 1, 1), "accepted"),)),
    ]
    fingerprints = {_fingerprint(base), *(_fingerprint(s) for s in changed)}
    assert len(fingerprints) == 1 + len(changed)


def test_a_new_key_for_a_signer_changes_it_but_an_unused_one_does_not() -> None:
    tiers = GovernanceState().tiers
    with_signer = {**tiers, Tier.PRODUCTION: tiers[Tier.PRODUCTION].with_changes(signers=["rel"])}
    one = GovernanceState(tiers=with_signer, signing=SigningTrust(keys=(TrustedKey("rel", "pem-1"),)))
    rotated = GovernanceState(tiers=with_signer, signing=SigningTrust(keys=(TrustedKey("rel", "pem-2"),)))
    unused = GovernanceState(
        tiers=with_signer,
        signing=SigningTrust(keys=(TrustedKey("rel", "pem-1"), TrustedKey("other", "pem-3"))),
    )
    assert _fingerprint(one) != _fingerprint(rotated)
    assert _fingerprint(one) == _fingerprint(unused)


def test_an_expired_allowlist_entry_no_longer_counts() -> None:
    state = GovernanceState(allowlist=(AllowlistEntry("CVE-2026-1", dt.date(2026, 12, 31), "accepted"),))
    assert _fingerprint(state, today=TODAY) != _fingerprint(GovernanceState(), today=TODAY)
    assert _fingerprint(state, today=dt.date(2027, 1, 1)) == _fingerprint(
        GovernanceState(), today=dt.date(2027, 1, 1)
    )
