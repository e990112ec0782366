"""The store on SQLAlchemy (SQLite and PostgreSQL): each unit of work is one session's transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from harbourmaster.clock import Clock, SystemClock
from harbourmaster.store.advisories import SqlAdvisoryRepository
from harbourmaster.store.approved_content import SqlApprovedContentRepository
from harbourmaster.store.audit import SqlAuditRepository
from harbourmaster.store.database import Database
from harbourmaster.store.deployments import SqlDeploymentRepository
from harbourmaster.store.governance import SqlGovernanceRepository
from harbourmaster.store.interface import ModelWatcher, Repositories, Store
from harbourmaster.store.jobs import SqlJobRepository
from harbourmaster.store.model_watch import ModelWatch
from harbourmaster.store.registry_tests import SqlRegistryTestRepository
from harbourmaster.store.robots import SqlRobotRepository
from harbourmaster.store.sboms import SqlSbomRepository
from harbourmaster.store.scans import SqlScanRepository
from harbourmaster.store.signing import SqlSigningRepository
from harbourmaster.store.tokens import SqlTokenRepository
from harbourmaster.store.web_sessions import SqlWebSessionRepository

__all__ = ["SqlStore"]


def _repositories(session: Session, clock: Clock) -> Repositories:
    return Repositories(
        governance=SqlGovernanceRepository(session, clock=clock),
        audit=SqlAuditRepository(session, clock=clock),
        sboms=SqlSbomRepository(session),
        tokens=SqlTokenRepository(session),
        advisories=SqlAdvisoryRepository(session),
        signing=SqlSigningRepository(session),
        jobs=SqlJobRepository(session),
        scans=SqlScanRepository(session),
        deployments=SqlDeploymentRepository(session),
        approved_content=SqlApprovedContentRepository(session),
        robots=SqlRobotRepository(session),
        registry_tests=SqlRegistryTestRepository(session),
        web_sessions=SqlWebSessionRepository(session),
    )


class SqlStore(Store):
    """The repositories over ``database``: a write unit of work is one transaction (``BEGIN IMMEDIATE``
    on SQLite, so writers queue instead of failing at commit); a read takes no write lock.  Audit records
    and sealed-secret updates are stamped by ``clock``."""

    def __init__(self, database: Database, *, clock: Clock | None = None) -> None:
        self.database = database
        self.clock = clock or SystemClock()

    @contextmanager
    def transaction(self) -> Iterator[Repositories]:
        with self.database.transaction() as session:
            yield _repositories(session, self.clock)

    @contextmanager
    def read(self) -> Iterator[Repositories]:
        with self.database.read() as session:
            yield _repositories(session, self.clock)

    def watch_model(self, on_revision: Callable[[int | None], None]) -> ModelWatcher | None:
        """PostgreSQL announces each saved revision (:mod:`harbourmaster.store.model_watch`); SQLite does
        not (None)."""
        if self.database.dialect != "postgresql":
            return None
        return ModelWatch(self.database.url, on_revision).start()
