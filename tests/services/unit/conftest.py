"""Unit tests of the services on the fakes: no database file, no socket, no file written.

Every test here runs inside :func:`tests.fakes.isolation.no_io` (network sockets and
file-system writes are refused, and a refusal the code swallowed still fails the
test), and the suite-wide data directory fixture is replaced by one that creates
nothing.  ``test_isolation.py`` checks that this holds.
"""

from __future__ import annotations

import pytest

from harbourmaster.services.core import Harbourmaster
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core
from tests.fakes.fixtures import _isolated_home, refusals  # noqa: F401 - the no-I/O guard, autouse
from tests.fakes.notifier import RecordingNotifier
from tests.fakes.registry import FakeRegistry

#: The example model's secrets (``secret: env:VAR`` in examples/governance.yaml).
EXAMPLE_SECRETS = {
    "HM_EXAMPLE_HARBOR_PAYMENTS_SECRET": "unit-harbor-payments",
    "HM_EXAMPLE_HARBOR_WEB_SECRET": "unit-harbor-web",
    "HM_EXAMPLE_ECR_SECRET": "unit-ecr",
    "HM_EXAMPLE_GHCR_TOKEN": "unit-ghcr",
}


@pytest.fixture
def example_secrets(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(name, value)
    return EXAMPLE_SECRETS


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def harbor() -> FakeRegistry:
    """harbor.corp, answering only the payments robot of the example model."""
    return FakeRegistry(
        "harbor.corp",
        username="robot$payments+deployer",
        password=EXAMPLE_SECRETS["HM_EXAMPLE_HARBOR_PAYMENTS_SECRET"],
    )


@pytest.fixture
def core(clock: FixedClock, notifier: RecordingNotifier, harbor: FakeRegistry) -> Harbourmaster:
    return unit_core(clock=clock, notifier=notifier, registries=(harbor,))
