"""Searching the audit log on SQLite and PostgreSQL, and in the in-memory fake, alike: each filter
narrows, LIKE wildcards in a filter are plain text, newest first, ``before`` pages, ``limit`` bounds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager

from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import Repositories
from harbourmaster.store.values import AuditEvent, AuditFilter
from tests.fakes.clock import FixedClock
from tests.fakes.store import MemoryStore

Unit = Callable[[], AbstractContextManager[Repositories]]


def _moment(time: str) -> dt.datetime:
    return dt.datetime.fromisoformat(time.replace("Z", "+00:00"))


def _exercise(transaction: Unit) -> None:
    with transaction() as tx:
        entries = tx.audit.append_many([
            AuditEvent("ann", "job.enqueued", "job/1"),
            AuditEvent("bob", "job", "job/2", "failed"),
            AuditEvent("ann", "jobs.other", "100%_done"),
            AuditEvent("cy", "registry.test", "registry/harbor-a", "failed"),
        ])
        seqs = [e.seq for e in entries]

    def search(limit: int = 50, **where: object) -> list[int]:
        with transaction() as tx:
            return [e.seq for e in tx.audit.search(AuditFilter(**where), limit=limit)  # type: ignore[arg-type]
                    if e.seq >= seqs[0]]

    assert search() == seqs[::-1]
    assert search(actor="ann") == [seqs[2], seqs[0]]
    assert search(action="job") == [seqs[1], seqs[0]]  # itself and job.*, never jobs.*
    assert search(action="job.enqueued") == [seqs[0]]
    assert search(target="harbor") == [seqs[3]]
    assert search(target="%_") == [seqs[2]]  # wildcards are text
    assert search(target="%") == [seqs[2]]
    assert search(result="failed", actor="cy") == [seqs[3]]
    assert search(before=seqs[2]) == [seqs[1], seqs[0]]
    assert search(limit=2) == [seqs[3], seqs[2]]
    with transaction() as tx:
        time = _moment(next(e for e in tx.audit.search(AuditFilter(), limit=1)).time)
    assert search(since=time) == seqs[::-1]
    assert search(until=time) == []
    assert search(since=time + dt.timedelta(microseconds=1)) == []


def test_the_database_searches_the_log(hm: Harbourmaster) -> None:
    _exercise(hm.store.transaction)
    with hm.store.read() as tx:
        newest = tx.audit.search(AuditFilter(), limit=1)
        assert [e.seq for e in newest] == [tx.audit.head()[0]]  # type: ignore[index]
        assert list(tx.audit.entries())[-1] == newest[0]


def test_the_fake_searches_as_the_database() -> None:
    _exercise(MemoryStore(FixedClock(dt.datetime(2026, 11, 30, 1, tzinfo=dt.UTC))).transaction)
