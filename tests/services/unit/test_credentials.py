"""Credential expiry judged by the core's clock: what is due, and what happens the day after."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.decision import Decision
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import expiring_credentials, use_credential
from harbourmaster.services.decisions import check_images
from tests.fakes.clock import FixedClock
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)
PAYMENTS_API = "harbor.corp/payments/api:1.4"


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _check(core: Harbourmaster) -> list[Decision]:
    return check_images(
        core, ADMIN, environment="prod-eu", namespace="payments", images=[PAYMENTS_API], source_only=True
    )


def test_expiring_counts_from_the_clocks_today(applied: Harbourmaster, clock: FixedClock) -> None:
    clock.set(dt.datetime(2028, 1, 1, 9, tzinfo=dt.UTC))
    due = expiring_credentials(applied, ADMIN, within=dt.timedelta(days=90))
    assert [(c.registry, c.days_left, c.expired) for c in due] == [
        ("ecr-prod", 30, False),  # 2028-01-31
        ("harbor-web", 90, False),  # 2028-03-31
    ]
    clock.advance(dt.timedelta(days=31))
    due = expiring_credentials(applied, ADMIN, within=dt.timedelta(days=0))
    assert [(c.registry, c.days_left, c.expired) for c in due] == [("ecr-prod", -1, True)]


def test_a_credential_is_refused_from_the_day_after_it_expires(
    applied: Harbourmaster, clock: FixedClock, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    clock.set(dt.datetime(2028, 6, 30, 23, 59, tzinfo=dt.UTC))  # harbor-payments expires 2028-06-30
    (last_day,) = _check(applied)
    assert last_day.allowed and last_day.digest == digest

    clock.advance(dt.timedelta(minutes=2))
    (expired,) = _check(applied)
    assert not expired.allowed
    assert "the credential of registry harbor-payments expired on 2028-06-30" in expired.reasons
    with pytest.raises(BadInput, match="expired on 2028-06-30; expired credentials are refused"):
        use_credential(applied, registry="harbor-payments", actor="tester", purpose="unit")
    with applied.store.read() as tx:
        refused = [e for e in tx.audit.entries() if e.action == "credential.use" and e.result == "refused"]
    assert [(e.target, e.details["reason"], e.time[:10]) for e in refused] == [
        ("harbor-payments", "expired", "2028-07-01")
    ]
