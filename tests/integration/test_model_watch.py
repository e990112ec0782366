"""Replicas in step on PostgreSQL: a core watching the model (LISTEN/NOTIFY) sees a change another core
saves within a second, and meanwhile decides without reading the model's revision; a lost listening
connection falls back to reading it per decision, then listens again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.model import Environment, EnvironmentKind, Tier
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.governance import put_environment
from tests.integration.postgres import PostgresCluster, core_on

pytestmark = pytest.mark.integration


def _until(condition: Callable[[], bool], *, within: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < within, f"not within {within} s"
        time.sleep(0.01)
    return time.monotonic() - started


@contextmanager
def _counting_reads(hm: Harbourmaster) -> Iterator[list[int]]:
    """Count the store's read units of work while the block runs."""
    count = [0]
    real = hm.store.read

    def counted() -> Any:
        count[0] += 1
        return real()

    hm.store.read = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        hm.store.read = real  # type: ignore[method-assign]


def test_a_watching_core_follows_another_cores_changes(
    postgres_url: str, postgres_cluster: PostgresCluster, tmp_path: Path
) -> None:
    writer = core_on(postgres_url, tmp_path / "a")
    watcher = core_on(postgres_url, tmp_path / "b", init=False)
    try:
        assert watcher.watch_model()
        before = watcher.current()[0].revision
        _until(lambda: watcher._watched_revision == before, within=5)
        with _counting_reads(watcher) as reads:
            for _ in range(50):
                assert watcher.current()[0].revision == before
        assert reads[0] == 0  # the announced revision is trusted: no database round trip per decision

        env = Environment("watched", EnvironmentKind.SWARM, Tier.DEVELOPMENT)
        put_environment(writer, local_principal(writer), env, create=True)
        took = _until(lambda: "watched" in watcher.current()[0].environments, within=1.0)
        assert took < 1.0

        # The listening connection is killed: the watcher reads the revision per call meanwhile, then
        # listens again and trusts the announcements once more.
        watch = watcher._watch
        assert watch is not None
        pid = watch.backend_pid  # type: ignore[attr-defined]
        assert pid is not None
        with postgres_cluster.admin_connection() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        _until(lambda: watch.backend_pid not in (None, pid), within=10)  # type: ignore[attr-defined]
        put_environment(
            writer,
            local_principal(writer),
            Environment("later", EnvironmentKind.SWARM, Tier.DEVELOPMENT),
            create=True,
        )
        _until(lambda: "later" in watcher.current()[0].environments, within=1.0)
    finally:
        watcher.stop_watching_model()
        writer.db.dispose()
        watcher.db.dispose()


def test_a_watching_core_reads_its_own_writes_before_the_announcement(
    postgres_url: str, tmp_path: Path
) -> None:
    """A change this core commits is what it decides on next, even when the store's announcement of
    that revision has not arrived yet (the announcement may lag the commit)."""
    hm = core_on(postgres_url, tmp_path / "own")
    try:
        assert hm.watch_model()
        hm.state()  # the model of the current revision is cached, as page views cache it
        announced = hm.current()[0].revision
        _until(lambda: hm.announced_revision() == announced, within=5)
        hm.stop_watching_model()  # nothing is announced from now on: only the core's own bookkeeping
        hm._on_revision(announced)  # ...yet it still trusts the last announcement, as a slow one leaves it
        for name in ("mine-1", "mine-2"):
            env = Environment(name, EnvironmentKind.SWARM, Tier.DEVELOPMENT)
            put_environment(hm, local_principal(hm), env, create=True)
            assert name in hm.current()[0].environments
            assert name in {e.name for e in hm.state().environments}
    finally:
        hm.stop_watching_model()
        hm.db.dispose()


def test_sqlite_has_no_watch_and_reads_the_revision(tmp_path: Path) -> None:
    hm = core_on(f"sqlite:///{tmp_path / 'hm.db'}", tmp_path / "home")
    try:
        assert hm.watch_model() is False
        hm.current()
        with _counting_reads(hm) as reads:
            hm.current()
        assert reads[0] == 1  # the cheap version check
    finally:
        hm.db.dispose()
