"""The tier rule "approved content only" in the verdict, on the fakes: an image whose digest an air-gap
import recorded for its registry is judged as before, any other is denied by the source part with the
digest, the registry and how content becomes approved; a tier without the rule is unaffected."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role, Tier
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decisions import check_images
from harbourmaster.services.governance import update_tier
from harbourmaster.services.governance_reads import list_tiers
from harbourmaster.services.policy import show_policy
from harbourmaster.store.approved_content_interface import ApprovedImage
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("local:test", Role.ADMINISTRATOR)
DEV = Principal("payments-dev", Role.TEAM_MEMBER)
IMAGE = "harbor.corp/payments/api:1.4"


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _staging(core: Harbourmaster, *, source_only: bool = False) -> list:  # type: ignore[type-arg]
    return check_images(
        core, DEV, environment="staging-k8s", namespace="payments", images=[IMAGE], source_only=source_only
    )


def _approve(core: Harbourmaster, registry: str, digest: str) -> None:
    with core.store.transaction() as tx:
        tx.approved_content.record(
            [
                ApprovedImage(
                    registry=registry,
                    repository="payments/api",
                    digest=digest,
                    tags=("1.4",),
                    bundle_sha256="b" * 64,
                    imported_by="local:test",
                    imported_at=dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
                )
            ]
        )


def test_a_tier_without_the_rule_is_unaffected(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    harbor.push("payments/api", "1.4")
    (decision,) = _staging(applied)
    assert decision.allowed, decision.reasons
    assert not any("approved content" in r for r in decision.reasons)


def test_an_image_not_approved_is_denied_with_the_digest_registry_and_remedy(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    update_tier(applied, ADMIN, Tier.STAGING, require_approved_content=True)
    (decision,) = _staging(applied)
    assert not decision.allowed
    registry = decision.registry
    assert registry is not None
    verdict = decision.verdict
    assert verdict is not None
    assert verdict["source"]["status"] == "denied"
    # Judged with the source: content that is not approved is neither scanned nor verified.
    assert verdict["vulnerabilities"]["status"] == verdict["signature"]["status"] == "skipped"
    assert all("/blobs/" not in str(r.url) for r in harbor.requests)
    (reason,) = [r for r in decision.reasons if "approved content" in r]
    assert f"{digest} is not approved content of registry {registry}" in reason
    assert "require_approved_content: true" in reason
    assert f"harbourmaster airgap import BUNDLE --to {registry}" in reason
    with applied.store.read() as tx:
        entry = list(tx.audit.entries())[-1]
    assert entry.action == "decision" and entry.details["images"][0]["verdict"]["source"] == "denied"


def test_an_approved_image_is_judged_as_before(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    update_tier(applied, ADMIN, Tier.STAGING, require_approved_content=True)
    (denied,) = _staging(applied)
    assert denied.registry is not None
    _approve(applied, denied.registry, digest)
    (decision,) = _staging(applied)
    assert decision.allowed, decision.reasons
    assert decision.verdict is not None and decision.verdict["vulnerabilities"]["status"] == "pass"
    assert f"{digest} is approved content of registry {denied.registry} (recorded by airgap import)" in (
        decision.reasons
    )


def test_approved_content_of_another_registry_does_not_count(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    update_tier(applied, ADMIN, Tier.STAGING, require_approved_content=True)
    _approve(applied, "some-other-registry", digest)
    (decision,) = _staging(applied)
    assert not decision.allowed
    assert any(f"{digest} is not approved content of registry" in r for r in decision.reasons)


def test_an_unknown_digest_fails_closed(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    update_tier(applied, ADMIN, Tier.STAGING, require_approved_content=True)
    (decision,) = check_images(
        applied, DEV, environment="staging-k8s", namespace="payments", images=[IMAGE], resolve=False
    )
    assert not decision.allowed
    assert any(
        "admits only approved content" in r and f"the digest of {IMAGE} is not known" in r
        for r in decision.reasons
    )


def test_a_source_only_decision_applies_the_rule_too(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    update_tier(applied, ADMIN, Tier.STAGING, require_approved_content=True)
    (decision,) = _staging(applied, source_only=True)
    assert not decision.allowed and decision.verdict is None
    assert decision.registry is not None
    _approve(applied, decision.registry, digest)
    (decision,) = _staging(applied, source_only=True)
    assert decision.allowed, decision.reasons


def test_the_rule_is_in_the_effective_policy_and_its_fingerprint(applied: Harbourmaster) -> None:
    before = show_policy(applied, ADMIN, environment="staging-k8s")
    assert before.require_approved_content is False
    update_tier(applied, ADMIN, Tier.STAGING, require_approved_content=True)
    after = show_policy(applied, ADMIN, environment="staging-k8s")
    assert after.require_approved_content is True
    assert after.fingerprint != before.fingerprint
    assert show_policy(applied, ADMIN, tier=Tier.STAGING).fingerprint == after.fingerprint
    tiers = {t.tier: t for t in list_tiers(applied, ADMIN)}
    assert tiers["staging"].require_approved_content and not tiers["production"].require_approved_content
