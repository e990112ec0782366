"""The last registry test results on SQLAlchemy (table ``registry_tests``, migration 0016)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from harbourmaster.store.models import RegistryTestRow
from harbourmaster.store.registry_test_interface import LastTest, RegistryTestRepository

__all__ = ["SqlRegistryTestRepository"]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps the wall time without its zone: every stamp is written and read in UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _test(row: RegistryTestRow) -> LastTest:
    return LastTest(registry=row.registry_name, url=row.url, tested_at=_utc(row.tested_at),
                    tested_by=row.tested_by, ok=row.ok, summary=row.summary, latency_ms=row.latency_ms)


class SqlRegistryTestRepository(RegistryTestRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, test: LastTest) -> None:
        self._session.execute(delete(RegistryTestRow).where(RegistryTestRow.registry_name == test.registry))
        self._session.add(RegistryTestRow(
            registry_name=test.registry, url=test.url, tested_at=_utc(test.tested_at),
            tested_by=test.tested_by, ok=test.ok, summary=test.summary, latency_ms=test.latency_ms,
        ))  # fmt: skip
        self._session.flush()

    def latest(self) -> dict[str, LastTest]:
        return {row.registry_name: _test(row) for row in self._session.scalars(select(RegistryTestRow))}
