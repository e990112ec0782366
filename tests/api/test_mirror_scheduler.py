"""``serve`` runs the mirror scheduler every HARBOURMASTER_MIRROR_SCHEDULER_SECONDS (0: not at all)."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from tests.components import wait_until
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core, unit_settings

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


def site(clock: FixedClock, every: float) -> Harbourmaster:
    hm = unit_core(clock=clock, settings=unit_settings(mirror_scheduler_seconds=every, jit_reap_seconds=0,
                                                       audit_checkpoint_interval=0))  # fmt: skip
    apply_document(hm, Principal("local:test", Role.ADMINISTRATOR), DOCUMENT, source="test.yaml")
    return hm


def queued(hm: Harbourmaster) -> list[str]:
    with hm.store.read() as tx:
        return [job.created_by for job in tx.jobs.recent()]


def test_serve_queues_a_due_schedule() -> None:
    clock = FixedClock(dt.datetime(2026, 6, 1, 1, 59, 50, tzinfo=dt.UTC))
    hm = site(clock, 0.05)
    with TestClient(create_app(hm)) as client:
        loop = client.app.state.mirror_scheduler  # type: ignore[attr-defined]
        assert loop is not None and loop.interval == 0.05
        wait_until(lambda: loop.passes >= 2, timeout=10, what="two scheduler passes")
        assert queued(hm) == []  # the first pass only recorded the current slot
        clock.set(dt.datetime(2026, 6, 1, 2, 0, 5, tzinfo=dt.UTC))
        wait_until(lambda: bool(queued(hm)), timeout=10, what="the scheduled mirror's job")
        passes = loop.passes
        wait_until(lambda: loop.passes >= passes + 3, timeout=10, what="three more passes")
    assert queued(hm) == ["scheduler:nightly-base"]


def test_serve_without_a_scheduler_when_the_interval_is_zero() -> None:
    hm = site(FixedClock(dt.datetime(2026, 6, 1, 2, 0, 5, tzinfo=dt.UTC)), 0)
    with TestClient(create_app(hm)) as client:
        assert client.app.state.mirror_scheduler is None  # type: ignore[attr-defined]
