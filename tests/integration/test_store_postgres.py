"""The governance store on a real PostgreSQL 15: concurrency, server-side failures, parity with SQLite."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    CredentialInfo,
    CredentialKind,
    Environment,
    EnvironmentKind,
    Provider,
    Registry,
    Role,
    Tier,
)
from harbourmaster.domain.state import GovernanceState
from harbourmaster.services import governance
from harbourmaster.services.audit import verify_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.database import StoreError
from harbourmaster.store.models import AuditRow
from tests.integration.postgres import PostgresCluster, core_on, table_rows
from tests.store.support import apply_example, state_key

pytestmark = pytest.mark.integration

THREADS = 8
PER_THREAD = 10


@pytest.fixture
def pg(postgres_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    core = core_on(postgres_url, tmp_path / "home")
    yield core
    core.db.dispose()


def _run_threads(work: Callable[[int], None], count: int = THREADS) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            start.wait(timeout=30)
            work(i)
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def test_the_cluster_is_private_and_version_15(postgres_cluster: PostgresCluster, pg: Harbourmaster) -> None:
    with pg.db.engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar_one()
        listen = conn.execute(text("SHOW listen_addresses")).scalar_one()
        port = conn.execute(text("SHOW port")).scalar_one()
    assert str(version).startswith("15.")
    assert listen == "127.0.0.1"
    assert int(port) == postgres_cluster.port
    assert pg.db.dialect == "postgresql"


def test_concurrent_audit_appends_form_one_chain(pg: Harbourmaster) -> None:
    with pg.store.read() as tx:
        initial = verify_audit(tx.audit).count

    def work(i: int) -> None:
        for j in range(PER_THREAD):
            with pg.store.transaction() as tx:
                tx.audit.append(actor=f"writer-{i}", action="test.append", target=f"{i}/{j}")

    assert _run_threads(work) == []
    with pg.store.read() as tx:
        verdict = verify_audit(tx.audit)
        seqs = [e.seq for e in tx.audit.entries()]
        targets = {e.target for e in tx.audit.entries() if e.action == "test.append"}
    total = initial + THREADS * PER_THREAD
    assert verdict.ok, verdict.problem
    assert verdict.count == total
    assert seqs == list(range(1, total + 1))
    assert targets == {f"{i}/{j}" for i in range(THREADS) for j in range(PER_THREAD)}


def test_concurrent_model_changes_are_not_lost(pg: Harbourmaster) -> None:
    """Each writer adds its own environment at the same moment: every one must survive.

    ``Harbourmaster.change`` reads the model, then writes the difference; two
    writers that read the same model must not undo each other's change.
    """
    admin = Principal("admin", Role.ADMINISTRATOR)
    before = pg.state()

    def work(i: int) -> None:
        env = Environment(f"env-{i}", EnvironmentKind.SWARM, Tier.DEVELOPMENT)
        governance.put_environment(pg, admin, env, create=True)

    errors = _run_threads(work)
    assert errors == [], [repr(e) for e in errors]
    names = {e.name for e in pg.state().environments}
    assert names == {e.name for e in before.environments} | {f"env-{i}" for i in range(THREADS)}
    with pg.store.read() as tx:
        verdict = verify_audit(tx.audit)
        revision = tx.governance.revision()
        recorded = sorted(e.target for e in tx.audit.entries() if e.action == "environment.create")
    assert verdict.ok, verdict.problem
    assert recorded == sorted(f"env-{i}" for i in range(THREADS))
    assert revision == 1 + THREADS  # init wrote revision 1


def test_a_server_side_failure_mid_write_leaves_nothing(pg: Harbourmaster) -> None:
    """PostgreSQL enforces column lengths at flush, after other rows were written in the transaction."""
    rows = table_rows(pg.db.engine)
    too_long = "u" * 300  # credential_username is VARCHAR(255)

    def mutate(state: GovernanceState) -> GovernanceState:
        reg = Registry(
            name="long-user",
            provider=Provider.CUSTOM,
            url="https://long.example",
            location=parse_registry_location("https://long.example"),
            credential=CredentialInfo(CredentialKind.USER, too_long, None, secret_set=False),
        )
        return state.evolve(
            environments=(Environment("first-written", EnvironmentKind.SWARM, Tier.DEVELOPMENT),),
            registries=(*state.registries, reg),
        )

    with pytest.raises(StoreError) as info:
        pg.change(actor="tester", action="test.change", target="t", mutate=mutate)
    assert "DataError" in info.value.message
    assert too_long not in info.value.diagnostics()
    assert table_rows(pg.db.engine) == rows


def test_sqlite_and_postgresql_hold_the_same_model(
    pg: Harbourmaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A differential test: the same document through each dialect gives the same model and audit shape."""
    lite = core_on(f"sqlite:///{tmp_path / 'lite.db'}", tmp_path / "lite-home")
    try:
        results = [apply_example(core, monkeypatch) for core in (pg, lite)]
        assert results[0].changes == results[1].changes
        assert results[0].revision == results[1].revision
        assert state_key(pg.state()) == state_key(lite.state())
        shapes = []
        for core in (pg, lite):
            with core.db.read() as session:
                shapes.append(
                    [
                        (r.seq, r.action, r.result, sorted(r.details))
                        for r in session.scalars(select(AuditRow).order_by(AuditRow.seq))
                    ]
                )
        assert shapes[0] == shapes[1]
    finally:
        lite.db.dispose()


def test_concurrent_creates_of_one_registry_admit_exactly_one(pg: Harbourmaster) -> None:
    """Two callers create the same registry at once: one succeeds, the other gets a Conflict."""
    from harbourmaster.errors import Conflict

    admin = Principal("admin", Role.ADMINISTRATOR)
    outcomes: list[str] = []

    def work(i: int) -> None:
        try:
            governance.put_registry(
                pg,
                admin,
                name="contested",
                fields={"provider": "custom", "url": f"https://r{i}.example"},
                create=True,
            )
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    assert _run_threads(work, count=4) == []
    with pg.db.read() as session:
        creates = list(session.scalars(select(AuditRow.target).where(AuditRow.action == "registry.create")))
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    assert creates == ["contested"]


def test_concurrent_creates_of_one_environment_admit_exactly_one(pg: Harbourmaster) -> None:
    from harbourmaster.errors import Conflict

    admin = Principal("admin", Role.ADMINISTRATOR)
    outcomes: list[str] = []

    def work(i: int) -> None:
        env = Environment("contested", EnvironmentKind.SWARM, Tier.DEVELOPMENT, group=f"g{i}")
        try:
            governance.put_environment(pg, admin, env, create=True)
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    assert _run_threads(work, count=4) == []
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
