"""The example governance model, applied to a unit core."""

from __future__ import annotations

from pathlib import Path

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.results import ApplyPublic

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "governance.yaml"
ADMIN = Principal("admin", Role.ADMINISTRATOR)


def apply_example(core: Harbourmaster, *, dry_run: bool = False, principal: Principal = ADMIN) -> ApplyPublic:
    """Apply examples/governance.yaml (its ``env:`` secrets must be set: the ``example_secrets`` fixture)."""
    return apply_document(core, principal, EXAMPLE.read_text(encoding="utf-8"), source="governance.yaml",
                          host=core.host_files(), dry_run=dry_run)
