"""Decisions on the fakes: granted images allowed and pinned to the digest the registry gives (asked with
the registry's stored credential, through httpx.MockTransport), others denied with their reason, each
decision audited; an unreachable registry leaves the tag unpinned without failing the decision."""

from __future__ import annotations

import base64

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decisions import check_images
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def test_a_granted_tag_is_allowed_and_pinned_with_the_stored_credential(
    applied: Harbourmaster, harbor: FakeRegistry, example_secrets: dict[str, str]
) -> None:
    digest = harbor.push("payments/api", "1.4")
    (decision,) = check_images(
        applied,
        ADMIN,
        environment="prod-eu",
        namespace="payments",
        images=["harbor.corp/payments/api:1.4"],
        source_only=True,
    )
    assert decision.allowed and decision.registry == "harbor-payments"
    assert decision.digest == digest and decision.digest_error is None
    basic = "Basic " + base64.b64encode(
        f"robot$payments+deployer:{example_secrets['HM_EXAMPLE_HARBOR_PAYMENTS_SECRET']}".encode()
    ).decode()
    assert basic in harbor.authorizations  # the vault's secret, sent to its own registry only
    with applied.store.read() as tx:
        actions = [(e.action, e.result, e.details.get("purpose")) for e in tx.audit.entries()][-2:]
    assert actions == [("credential.use", "ok", "decision.resolve"), ("decision", "allowed", None)]


def test_an_image_from_a_registry_not_granted_there_is_denied_with_its_reason(applied: Harbourmaster) -> None:
    web, hub = check_images(
        applied,
        ADMIN,
        environment="prod-eu",
        namespace="payments",
        images=["harbor.corp/web/site:2", "nginx:1.27"],
    )
    assert not web.allowed and not hub.allowed
    assert web.registry == "harbor-web" and web.digest is None
    assert any("not granted to namespace payments on environment prod-eu" in r for r in web.reasons)
    with applied.store.read() as tx:
        last = list(tx.audit.entries())[-1]
    assert (last.action, last.result, last.target) == ("decision", "denied", "prod-eu/namespace payments")
    assert [i["allowed"] for i in last.details["images"]] == [False, False]


def test_an_unreachable_registry_leaves_the_tag_unpinned_and_the_decision_allowed(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    # ecr-prod's host has no fake: the mock transport fails to connect, as the network would.
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/payments/api:3"
    (decision,) = check_images(
        applied, ADMIN, environment="prod-eu", namespace="payments", images=[image], source_only=True
    )
    assert decision.allowed and decision.registry == "ecr-prod"
    assert decision.digest is None and decision.digest_error
    assert harbor.requests == []


def test_without_resolving_no_registry_and_no_credential_is_used(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    harbor.push("payments/api", "1.4")
    (decision,) = check_images(
        applied, ADMIN, environment="prod-eu", namespace="payments",
        images=["harbor.corp/payments/api:1.4"], resolve=False, source_only=True,
    )
    assert decision.allowed and decision.digest is None
    assert harbor.requests == []
    with applied.store.read() as tx:
        assert "credential.use" not in {e.action for e in tx.audit.entries()}
