"""The approved-content rule on a source decision: pure, fail-closed."""

from __future__ import annotations

from harbourmaster.domain.approved_content import approval_wanted, approved_source
from harbourmaster.domain.decision import Decision
from harbourmaster.domain.model import Tier
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES

DIGEST = "sha256:" + "a" * 64
POLICY = DEFAULT_TIER_POLICIES[Tier.PRODUCTION].with_changes(require_approved_content=True)
ALLOWED = Decision(
    "internal.corp/app:1", "internal.corp/app:1", "internal", True, ("granted",), digest=DIGEST
)


def test_a_tier_without_the_rule_leaves_the_decision_alone() -> None:
    plain = DEFAULT_TIER_POLICIES[Tier.PRODUCTION]
    assert approval_wanted(ALLOWED, plain) is None
    assert approved_source(ALLOWED, plain, frozenset()) is ALLOWED


def test_approved_content_of_the_registry_is_admitted_with_the_reason() -> None:
    assert approval_wanted(ALLOWED, POLICY) == ("internal", DIGEST)
    judged = approved_source(ALLOWED, POLICY, {("internal", DIGEST)})
    assert judged.allowed
    assert judged.reasons == (
        "granted",
        f"{DIGEST} is approved content of registry internal (recorded by airgap import)",
    )


def test_anything_else_is_denied_naming_the_digest_registry_and_remedy() -> None:
    judged = approved_source(ALLOWED, POLICY, {("elsewhere", DIGEST)})
    assert not judged.allowed
    assert judged.reasons[-1] == (
        "the production tier admits only approved content (require_approved_content: true), and "
        f"{DIGEST} is not approved content of registry internal: content becomes approved when a signed "
        "bundle carrying it is imported with `harbourmaster airgap import BUNDLE --to internal`"
    )
    unpinned = Decision(
        "internal.corp/app:1", "internal.corp/app:1", "internal", True, (), digest_error="timeout"
    )
    assert approval_wanted(unpinned, POLICY) is None
    denied = approved_source(unpinned, POLICY, frozenset())
    assert not denied.allowed and "digest of internal.corp/app:1 is not known (timeout)" in denied.reasons[-1]


def test_a_source_denial_is_kept_as_it_is() -> None:
    refused = Decision("evil.example/x:1", "evil.example/x:1", None, False, ("denied by default",))
    assert approval_wanted(refused, POLICY) is None
    assert approved_source(refused, POLICY, frozenset()) is refused
