"""The job repository's meaning, on SQLite and PostgreSQL (and on the in-memory fake, which imports
these tests): claims lease the oldest claimable job and count attempts, only the lease's owner may
extend, complete or fail it, an expired lease makes the job claimable again, and attempts run out."""

from __future__ import annotations

import datetime as dt

from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import JobState

T0 = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def _at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _enqueue(hm: Harbourmaster, kind: str = "test.kind", **payload: object) -> int:
    with hm.store.transaction() as tx:
        return tx.jobs.enqueue(kind=kind, payload=payload, created_by="alice", now=T0).id


def test_enqueue_get_and_recent(hm: Harbourmaster) -> None:
    first = _enqueue(hm, image="a")
    second = _enqueue(hm, "other.kind", image="b")
    with hm.store.read() as tx:
        job = tx.jobs.get(first)
        assert tx.jobs.get(second + 1000) is None
        recent = tx.jobs.recent()
        assert [j.id for j in tx.jobs.recent(limit=1)] == [second]
        assert [j.id for j in tx.jobs.recent(state=JobState.RUNNING)] == []
    assert job is not None
    assert (job.kind, job.payload, job.state, job.attempts, job.max_attempts) == (
        "test.kind", {"image": "a"}, JobState.QUEUED, 0, 3)
    assert (job.created_by, job.created_at, job.updated_at) == ("alice", T0, T0)
    assert (job.lease_owner, job.lease_expires_at, job.result, job.error, job.progress) == (
        None, None, None, None, 0.0)
    assert [j.id for j in recent] == [second, first]


def test_claims_take_the_oldest_job_of_the_kinds_asked_and_count_the_attempt(hm: Harbourmaster) -> None:
    first, other, third = _enqueue(hm), _enqueue(hm, "other.kind"), _enqueue(hm)
    with hm.store.transaction() as tx:
        a = tx.jobs.claim(owner="w1", now=_at(1), lease_seconds=30, kinds={"test.kind"})
        b = tx.jobs.claim(owner="w2", now=_at(1), lease_seconds=30, kinds={"test.kind"})
        none = tx.jobs.claim(owner="w3", now=_at(1), lease_seconds=30, kinds={"test.kind"})
        c = tx.jobs.claim(owner="w3", now=_at(1), lease_seconds=30)
    assert a is not None and b is not None and c is not None and none is None
    assert (a.id, b.id, c.id) == (first, third, other)
    assert (a.state, a.attempts, a.lease_owner, a.lease_expires_at, a.updated_at) == (
        JobState.RUNNING, 1, "w1", _at(31), _at(1))
    with hm.store.transaction() as tx:
        assert tx.jobs.claim(owner="w4", now=_at(2), lease_seconds=30) is None


def test_only_the_owner_extends_the_lease_and_records_progress(hm: Harbourmaster) -> None:
    job_id = _enqueue(hm)
    with hm.store.transaction() as tx:
        tx.jobs.claim(owner="w1", now=_at(0), lease_seconds=10)
        assert tx.jobs.heartbeat(job_id, owner="w1", now=_at(5), lease_seconds=10, progress=0.25,
                                 message="a quarter")
        assert not tx.jobs.heartbeat(job_id, owner="w2", now=_at(6), lease_seconds=10, progress=0.9)
        assert tx.jobs.heartbeat(job_id, owner="w1", now=_at(7), lease_seconds=10, progress=7.0)
    with hm.store.read() as tx:
        job = tx.jobs.get(job_id)
    assert job is not None
    assert (job.lease_expires_at, job.progress, job.progress_message) == (_at(17), 1.0, "a quarter")


def test_complete_keeps_the_result_for_the_owner_only(hm: Harbourmaster) -> None:
    job_id = _enqueue(hm)
    with hm.store.transaction() as tx:
        tx.jobs.claim(owner="w1", now=_at(0), lease_seconds=10)
        assert not tx.jobs.complete(job_id, owner="w2", now=_at(1), result={"x": 1})
        assert tx.jobs.complete(job_id, owner="w1", now=_at(2), result={"digest": "sha256:ab", "n": [1, 2]})
        assert not tx.jobs.complete(job_id, owner="w1", now=_at(3), result={"again": True})
        assert tx.jobs.fail(job_id, owner="w1", now=_at(3), error="late") is None
    with hm.store.read() as tx:
        job = tx.jobs.get(job_id)
    assert job is not None
    assert (job.state, job.result, job.progress, job.lease_owner, job.updated_at) == (
        JobState.SUCCEEDED, {"digest": "sha256:ab", "n": [1, 2]}, 1.0, None, _at(2))


def test_a_failed_attempt_is_queued_again_until_the_attempts_run_out(hm: Harbourmaster) -> None:
    job_id = _enqueue(hm)
    states = []
    for attempt in range(1, 4):
        with hm.store.transaction() as tx:
            job = tx.jobs.claim(owner=f"w{attempt}", now=_at(attempt), lease_seconds=10)
            assert job is not None and job.id == job_id and job.attempts == attempt
            assert tx.jobs.fail(job_id, owner="someone-else", now=_at(attempt), error="x") is None
            state = tx.jobs.fail(job_id, owner=f"w{attempt}", now=_at(attempt), error=f"boom {attempt}")
            states.append(state)
    assert states == [JobState.QUEUED, JobState.QUEUED, JobState.FAILED]
    with hm.store.transaction() as tx:
        assert tx.jobs.claim(owner="w4", now=_at(100), lease_seconds=10) is None
        job = tx.jobs.get(job_id)
    assert job is not None
    assert (job.state, job.attempts, job.error, job.lease_owner) == (JobState.FAILED, 3, "boom 3", None)


def test_an_expired_lease_makes_the_job_claimable_again(hm: Harbourmaster) -> None:
    job_id = _enqueue(hm)
    with hm.store.transaction() as tx:
        tx.jobs.claim(owner="dead", now=_at(0), lease_seconds=10)
        assert tx.jobs.claim(owner="w2", now=_at(9), lease_seconds=10) is None  # still held
        again = tx.jobs.claim(owner="w2", now=_at(11), lease_seconds=10)
    assert again is not None and again.id == job_id
    assert (again.attempts, again.lease_owner) == (2, "w2")
    assert again.error == "attempt 1 of 3 abandoned: the lease of worker dead expired"
    with hm.store.transaction() as tx:
        # The first worker woke up: its lease is gone, so it changes nothing.
        assert not tx.jobs.heartbeat(job_id, owner="dead", now=_at(12), lease_seconds=10)
        assert not tx.jobs.complete(job_id, owner="dead", now=_at(12), result="stale")
        assert tx.jobs.complete(job_id, owner="w2", now=_at(13), result="fresh")
        job = tx.jobs.get(job_id)
    assert job is not None and (job.state, job.result, job.error) == (JobState.SUCCEEDED, "fresh", None)


def test_a_job_abandoned_on_every_attempt_ends_failed(hm: Harbourmaster) -> None:
    job_id = _enqueue(hm)
    later = _enqueue(hm)
    with hm.store.transaction() as tx:
        for attempt in range(3):
            job = tx.jobs.claim(owner=f"dies-{attempt}", now=_at(20 * attempt), lease_seconds=10,
                                kinds={"test.kind"})
            assert job is not None and job.id == job_id, attempt
        # The third lease expired too: the job is failed and the next one is claimed instead.
        next_job = tx.jobs.claim(owner="w", now=_at(100), lease_seconds=10)
        job = tx.jobs.get(job_id)
    assert next_job is not None and next_job.id == later
    assert job is not None
    assert (job.state, job.attempts, job.lease_owner) == (JobState.FAILED, 3, None)
    assert job.error == (
        "attempt 3 of 3 abandoned: the lease of worker dies-2 expired; before that: "
        "attempt 2 of 3 abandoned: the lease of worker dies-1 expired"
    )
