"""Shared by the store, API and canary tests: the example model, its secrets, comparisons."""

from __future__ import annotations

from pathlib import Path

import pytest

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.state import GovernanceState
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.results import ApplyPublic

__all__ = [
    "EXAMPLE",
    "EXAMPLE_SECRET_VARS",
    "apply_example",
    "set_example_secrets",
    "state_key",
]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "governance.yaml"

#: The environment variables examples/governance.yaml references.
EXAMPLE_SECRET_VARS = (
    "HM_EXAMPLE_HARBOR_PAYMENTS_SECRET",
    "HM_EXAMPLE_HARBOR_WEB_SECRET",
    "HM_EXAMPLE_ECR_SECRET",
    "HM_EXAMPLE_GHCR_TOKEN",
)


def set_example_secrets(monkeypatch: pytest.MonkeyPatch, prefix: str = "example") -> dict[str, str]:
    values = {var: f"{prefix}-{var.lower()}-value" for var in EXAMPLE_SECRET_VARS}
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    return values


def apply_example(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> ApplyPublic:
    set_example_secrets(monkeypatch)
    text = EXAMPLE.read_text(encoding="utf-8")
    return apply_document(hm, local_principal(hm), text, source=str(EXAMPLE), host=hm.host_files())


def state_key(state: GovernanceState) -> dict[str, object]:
    """``state`` with every collection as a sorted list: equal iff the models are the same."""
    return {
        "registries": sorted(state.registries, key=repr),
        "environments": sorted(state.environments, key=repr),
        "users": sorted(state.users, key=repr),
        "teams": sorted(state.teams, key=repr),
        "access": sorted(state.access, key=repr),
        "grants": sorted(state.grants, key=repr),
        "tiers": sorted(state.tiers.items(), key=repr),
        "hide_dockerhub_anonymous": state.hide_dockerhub_anonymous,
    }
