from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.services.core import Harbourmaster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "governance.yaml"

EXAMPLE_SECRETS = {
    "HM_EXAMPLE_HARBOR_PAYMENTS_SECRET": "example-harbor-payments",
    "HM_EXAMPLE_HARBOR_WEB_SECRET": "example-harbor-web",
    "HM_EXAMPLE_ECR_SECRET": "example-ecr",
    "HM_EXAMPLE_GHCR_TOKEN": "example-ghcr",
}


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for k, v in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(k, v)
    return EXAMPLE_SECRETS


@pytest.fixture
def hm(example_env: dict[str, str]) -> Harbourmaster:
    core = Harbourmaster.from_environ(dict(os.environ))
    core.init()
    return core


@pytest.fixture
def example_text() -> str:
    return EXAMPLE.read_text()


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harbourmaster]:
    """An initialised data directory (SQLite) without the example model, no checkpoints to syslog."""
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
    hm = Harbourmaster.from_environ()
    hm.init()
    yield hm
    hm.db.dispose()
