"""Applying the example model on the fakes: the model, its sealed secrets and the audit chain."""

from __future__ import annotations

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.services.audit import verify_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import use_credential
from tests.services.unit._example import apply_example as _apply


def test_a_dry_run_writes_nothing_and_apply_writes_once(
    core: Harbourmaster, example_secrets: dict[str, str]
) -> None:
    before = core.state()
    with core.store.read() as tx:
        revision, head = tx.governance.revision(), tx.audit.head()
    planned = _apply(core, dry_run=True)
    assert planned.dry_run and not planned.applied and planned.changes
    assert core.state() == before
    with core.store.read() as tx:
        assert (tx.governance.revision(), tx.audit.head()) == (revision, head)

    applied = _apply(core)
    assert applied.applied and applied.revision == revision + 1
    assert applied.changes == planned.changes
    state = core.state()
    names = {r.name for r in state.registries}
    assert names >= {"harbor-payments", "harbor-web", "ecr-prod", "dev-local"}
    assert {e.name for e in state.environments} == {"dev-docker", "staging-k8s", "prod-eu"}
    again = _apply(core)
    assert not again.applied and again.changes == []  # idempotent: nothing to write the second time


def test_secrets_are_sealed_and_open_only_for_use(
    core: Harbourmaster, example_secrets: dict[str, str]
) -> None:
    _apply(core)
    with core.store.read() as tx:
        sealed = tx.governance.sealed_blobs("harbor-payments").credential
    assert sealed is not None and example_secrets["HM_EXAMPLE_HARBOR_PAYMENTS_SECRET"].encode() not in sealed
    registry = core.state().registry("harbor-payments")
    assert registry is not None and registry.credential is not None and registry.credential.secret_set
    use = use_credential(core, registry="harbor-payments", actor="tester", purpose="unit")
    assert use is not None and use.username == "robot$payments+deployer"
    assert use.secret.reveal() == example_secrets["HM_EXAMPLE_HARBOR_PAYMENTS_SECRET"]
    with core.store.read() as tx:
        last = list(tx.audit.entries())[-1]
    assert (last.action, last.target) == ("credential.use", "harbor-payments")
    assert last.details["purpose"] == "unit"


def test_every_change_is_in_the_verified_audit_chain_at_the_clocks_time(
    core: Harbourmaster, example_secrets: dict[str, str]
) -> None:
    _apply(core)
    with core.store.read() as tx:
        verdict = verify_audit(tx.audit)
        entries = list(tx.audit.entries())
    assert verdict.ok and verdict.count == len(entries)
    assert [e.action for e in entries] == ["system.init", "governance.apply"]
    assert {e.time for e in entries} == {core.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def test_a_team_member_may_not_apply(core: Harbourmaster, example_secrets: dict[str, str]) -> None:
    with pytest.raises(Forbidden):
        _apply(core, principal=Principal("payments-dev", Role.TEAM_MEMBER))
    assert {r.name for r in core.state().registries} == {"dockerhub-anonymous"}
