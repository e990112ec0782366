"""Scheduled mirrors on fakes (in-memory store, fixed clock): what is due, once per slot, no backlog,
a schedule removed or changed stops, and who the queued job acts for."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.services import mirror_schedule
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import job_principal
from harbourmaster.services.mirror_schedule import due_schedules, enqueue_due
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core

ADMIN = Principal("local:test", Role.ADMINISTRATOR)
START = dt.datetime(2026, 6, 1, 1, 58, 30, tzinfo=dt.UTC)

IMAGE_SET = """\
apiVersion: harbourmaster.io/v1
kind: ImageSet
images:
  - connected.example/lab/app:v1
"""


def document(*, schedule: str = "0 2 * * *", with_mirror: bool = True, tier: str | None = None) -> str:
    mirror = ""
    if with_mirror:
        indented = "".join(f"      {line}\n" for line in IMAGE_SET.splitlines())
        mirror = (
            "mirrors:\n"
            "  - name: nightly-base\n"
            "    image_set: |\n"
            f"{indented}"
            "    to: internal\n"
            f"    schedule: \"{schedule}\"\n" + (f"    tier: {tier}\n" if tier else "")
        )
    return (
        "apiVersion: harbourmaster.io/v1\n"
        "kind: Governance\n"
        "registries:\n"
        "  - {name: internal, provider: custom, url: 'https://internal.example'}\n"
        "  - {name: connected, provider: custom, url: 'https://connected.example'}\n" + mirror
    )


def apply(hm: Harbourmaster, text: str, *, prune: bool = False) -> None:
    result = apply_document(hm, ADMIN, text, source="test.yaml", prune=prune)
    assert result.applied or not result.changes


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def hm(clock: FixedClock) -> Harbourmaster:
    core = unit_core(clock=clock)
    apply(core, document())
    return core


def scheduled_audit(hm: Harbourmaster) -> list[dict[str, object]]:
    with hm.store.read() as tx:
        return [dict(e.details, actor=e.actor, target=e.target) for e in tx.audit.entries()
                if e.action == "mirror.scheduled"]  # fmt: skip


def jobs(hm: Harbourmaster) -> list[object]:
    with hm.store.read() as tx:
        return list(reversed(tx.jobs.recent(limit=100)))


def at(hour: int, minute: int = 0, *, day: int = 1) -> dt.datetime:
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=dt.UTC)


def test_first_pass_records_the_slot_then_the_next_slot_queues_one_audited_job(
    hm: Harbourmaster, clock: FixedClock
) -> None:
    assert enqueue_due(hm) == []  # first seen: its current slot (yesterday 02:00) is only recorded
    assert due_schedules(hm, clock.now()) == [] and jobs(hm) == []
    clock.set(at(1, 59))
    assert enqueue_due(hm) == []
    clock.set(at(2, 0) + dt.timedelta(seconds=20))
    [due] = due_schedules(hm, clock.now())
    yesterday = at(2) - dt.timedelta(days=1)
    assert (due.schedule.name, due.slot, due.previous) == ("nightly-base", at(2), yesterday)
    [queued] = enqueue_due(hm)
    assert (queued.schedule, queued.slot) == ("nightly-base", at(2))
    [job] = jobs(hm)
    assert job.id == queued.job_id and job.kind == "mirror"  # type: ignore[attr-defined]
    assert job.created_by == "scheduler:nightly-base"  # type: ignore[attr-defined]
    assert job.payload == {  # type: ignore[attr-defined]
        "image_set": IMAGE_SET, "source": "scheduled mirror nightly-base", "to": "internal",
        "schedule": "nightly-base", "slot": "2026-06-01T02:00:00+00:00",
    }  # fmt: skip
    [record] = scheduled_audit(hm)
    assert record["actor"] == "scheduler:nightly-base" and record["target"] == "internal"
    assert record["slot"] == "2026-06-01T02:00:00+00:00" and record["job"] == job.id  # type: ignore[attr-defined]
    assert record["cron"] == "0 2 * * *"


def test_a_slot_is_queued_once_however_many_passes(hm: Harbourmaster, clock: FixedClock) -> None:
    enqueue_due(hm)
    clock.set(at(2, 0))
    assert len(enqueue_due(hm)) == 1
    for _ in range(3):
        clock.advance(dt.timedelta(minutes=1))
        assert enqueue_due(hm) == []
    assert len(jobs(hm)) == 1 and len(scheduled_audit(hm)) == 1


def test_a_second_process_that_read_the_same_due_slot_queues_nothing(
    hm: Harbourmaster, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue_due(hm)
    clock.set(at(2, 0) + dt.timedelta(seconds=5))
    # Both processes found the schedule due; one claims the slot first.
    read_by_both = mirror_schedule._slots(hm, clock.now())
    assert len(enqueue_due(hm)) == 1
    monkeypatch.setattr(mirror_schedule, "_slots", lambda _hm, _now: read_by_both)
    assert enqueue_due(hm) == []  # its compare-and-set fails: the slot is no longer the one it read
    assert len(jobs(hm)) == 1 and len(scheduled_audit(hm)) == 1


def test_missed_runs_are_not_caught_up(hm: Harbourmaster, clock: FixedClock) -> None:
    enqueue_due(hm)
    clock.set(at(9, 30, day=5))  # no serve for four days: the 02:00 slots of days 1 to 5 were missed
    [queued] = enqueue_due(hm)
    assert queued.slot == at(2, day=5)
    assert enqueue_due(hm) == []
    clock.set(at(2, 0, day=6))
    [queued] = enqueue_due(hm)
    assert queued.slot == at(2, day=6)
    assert len(jobs(hm)) == 2


def test_a_removed_schedule_stops_and_its_queued_job_runs_for_nobody(
    hm: Harbourmaster, clock: FixedClock
) -> None:
    enqueue_due(hm)
    clock.set(at(2, 1))
    enqueue_due(hm)
    [job] = jobs(hm)
    acting = job_principal(hm, job)  # type: ignore[arg-type]
    assert (acting.name, acting.role) == ("scheduler:nightly-base", Role.PLATFORM_ENGINEER)

    apply(hm, document(with_mirror=False), prune=True)
    assert hm.state().mirrors == ()
    with pytest.raises(Forbidden, match="scheduled mirror nightly-base, which is no longer defined"):
        job_principal(hm, job)  # type: ignore[arg-type]
    clock.set(at(2, 0, day=2))
    assert enqueue_due(hm) == [] and len(jobs(hm)) == 1

    # Defined again, it starts afresh: its first slot is recorded, the next one runs.
    apply(hm, document())
    assert enqueue_due(hm) == []
    clock.set(at(2, 0, day=3))
    assert len(enqueue_due(hm)) == 1


def test_a_changed_schedule_starts_from_its_next_slot_and_older_jobs_do_not_run(
    hm: Harbourmaster, clock: FixedClock
) -> None:
    enqueue_due(hm)
    clock.set(at(2, 0))
    enqueue_due(hm)
    [old_job] = jobs(hm)
    clock.set(at(10, 30))
    apply(hm, document(schedule="*/15 * * * *", tier="production"))
    assert enqueue_due(hm) == []  # a new cron expression: its current slot (10:30) is only recorded
    with pytest.raises(Forbidden):
        job_principal(hm, old_job)  # type: ignore[arg-type]
    clock.set(at(10, 45))
    [queued] = enqueue_due(hm)
    new_job = jobs(hm)[-1]
    assert queued.slot == at(10, 45) and new_job.payload["tier"] == "production"  # type: ignore[attr-defined]
    assert job_principal(hm, new_job).role is Role.PLATFORM_ENGINEER  # type: ignore[arg-type]


def test_a_user_job_is_not_taken_for_a_scheduled_one(hm: Harbourmaster, clock: FixedClock) -> None:
    enqueue_due(hm)
    clock.set(at(2, 0))
    assert len(enqueue_due(hm)) == 1
    with hm.store.transaction() as tx:
        forged = tx.jobs.enqueue(kind="sbom.generate", payload={"image": "x"},
                                 created_by="scheduler:nightly-base", now=clock.now())  # fmt: skip
    with pytest.raises(Forbidden):
        job_principal(hm, forged)
