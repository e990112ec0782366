"""``harbourmaster_credential_expiry_seconds``: every static credential, managed robot and minted provider
token with its seconds left, on /metrics; names and times only."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.services import token_states
from harbourmaster.services.robot_rotation import credential_expiries
from harbourmaster.store.robot_interface import ManagedRobot
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core
from tests.services.unit._example import apply_example
from tests.services.unit.conftest import EXAMPLE_SECRETS

START = dt.datetime(2027, 12, 31, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture(autouse=True)
def _no_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_states, "_tokens", {})


def test_static_credentials_robots_and_minted_tokens_each_have_their_seconds_left(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    hm = unit_core(clock=clock)
    apply_example(hm)
    # ECR exchanges its stored key for a 12-hour token at each pull; the last one minted is reported.
    token_states.record_token("ecr-prod", (START + dt.timedelta(hours=12)).timestamp())
    token_states.record_token("no-such-registry", (START + dt.timedelta(hours=1)).timestamp())
    with hm.store.transaction() as tx:
        tx.robots.add(ManagedRobot(
            registry="harbor-web", name="harbourmaster-pull", generation=1, access="pull", harbor_id=1,
            harbor_name="robot$web+harbourmaster-pull-1", project="web", issued_at=START,
            expires_at=START + dt.timedelta(days=3), sealed=b"sealed",
        ))  # fmt: skip
    found = {(c.registry, c.credential, c.kind): c.seconds_left(clock.now()) for c in credential_expiries(hm)}
    assert found[("ecr-prod", "token", "token")] == 12 * 3600
    # A static credential expires at the end of its day: 2028-01-31 is 31 days and 12 hours away.
    assert found[("ecr-prod", "AKIAEXAMPLEDEPLOYER", "static")] == 31 * 86400 + 12 * 3600
    assert found[("harbor-web", "robot$web+harbourmaster-pull-1", "robot")] == 3 * 86400
    assert not any(key[0] == "no-such-registry" for key in found), "only registries of the model"
    assert not any(key[0] == "ghcr-tools" for key in found), "a credential without expiry has no gauge"

    with TestClient(create_app(hm)) as client:
        metrics = client.get("/metrics").text
    line = ('harbourmaster_credential_expiry_seconds{credential="token",kind="token",registry="ecr-prod"} '
            f"{12 * 3600:.1f}")  # fmt: skip
    assert line in metrics
    assert 'credential="harbourmaster-pull",kind="robot",registry="harbor-web"' in metrics
    assert 'credential="static",kind="static",registry="ecr-prod"' in metrics
    # /metrics answers without a token: no account name or access key id is in it.
    assert "robot$web" not in metrics and "AKIAEXAMPLEDEPLOYER" not in metrics
    for secret in EXAMPLE_SECRETS.values():
        assert secret not in metrics
