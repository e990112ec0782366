"""The scheduled mirrors' slots on SQLite and PostgreSQL: a compare-and-set that concurrent schedulers
(several ``serve`` processes on one database) win exactly once per slot; a removed schedule's slot goes."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services import mirror_schedule
from harbourmaster.services.apply import apply_document
from harbourmaster.services.mirror_schedule import MirrorSlot, QueuedMirror, enqueue_due
from tests.integration.postgres import core_on

ADMIN = Principal("local:test", Role.ADMINISTRATOR)
SLOT = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)
DOCUMENT = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - {name: internal, provider: custom, url: 'https://internal.example'}
mirrors:
  - name: nightly-base
    to: internal
    schedule: '0 2 * * *'
    image_set: |
      apiVersion: harbourmaster.io/v1
      kind: ImageSet
      images: [connected.example/lab/app:v1]
"""


def test_concurrent_schedulers_queue_a_slot_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cores = [core_on(database_url, tmp_path / "home", init=i == 0) for i in range(4)]
    try:
        apply_document(cores[0], ADMIN, DOCUMENT, source="test.yaml")
        [mirror] = cores[0].state().mirrors
        yesterday = SLOT - dt.timedelta(days=1)
        with cores[0].store.transaction() as tx:
            assert tx.governance.claim_mirror_slot(mirror.name, schedule=mirror.schedule, previous=None,
                                                   slot=yesterday)  # fmt: skip
        # Every process found the slot due at once; each claims it in its own transaction.
        read_by_all = [MirrorSlot(mirror, SLOT, yesterday)]
        monkeypatch.setattr(mirror_schedule, "_slots", lambda _hm, _now: read_by_all)
        start = threading.Barrier(len(cores))
        queued: list[list[QueuedMirror]] = []

        def scheduler(index: int) -> None:
            start.wait()
            queued.append(enqueue_due(cores[index], now=SLOT + dt.timedelta(seconds=index)))

        threads = [threading.Thread(target=scheduler, args=(i,)) for i in range(len(cores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(len(q) for q in queued) == [0, 0, 0, 1]
        with cores[0].store.read() as tx:
            assert len(tx.jobs.recent()) == 1
            assert sum(1 for e in tx.audit.entries() if e.action == "mirror.scheduled") == 1
            assert tx.governance.mirror_slot(mirror.name, schedule=mirror.schedule) == SLOT
            assert tx.governance.mirror_slot(mirror.name, schedule="0 3 * * *") is None
            # A stale compare fails.
        with cores[1].store.transaction() as tx:
            assert not tx.governance.claim_mirror_slot(mirror.name, schedule=mirror.schedule,
                                                       previous=yesterday, slot=SLOT)  # fmt: skip

        # A removed schedule's slot goes with it.
        bare = DOCUMENT.split("mirrors:")[0]
        apply_document(cores[0], ADMIN, bare, source="test.yaml", prune=True)
        with cores[0].store.read() as tx:
            assert tx.governance.mirror_slot(mirror.name, schedule=mirror.schedule) is None
    finally:
        for core in cores:
            core.db.dispose()
