"""Job workers as separate processes on one real PostgreSQL 15 database: two workers never take the
same job, a worker killed mid-job (SIGKILL) leaves the job to another once its lease expires, and a
poison job ends failed after three tries with its error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from harbourmaster.services.audit import verify_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import JobState, StoredJob
from tests.integration.postgres import core_on

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Workers:
    """Worker processes (``tests/integration/_job_worker.py``) on one database, recording into one file."""

    def __init__(self, url: str, home: Path, record: Path) -> None:
        self.url, self.home, self.record = url, home, record
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *, lease: float) -> subprocess.Popen[bytes]:
        env = {**os.environ, "HARBOURMASTER_HOME": str(self.home), "HARBOURMASTER_DATABASE_URL": self.url,
               "PYTHONPATH": str(ROOT)}
        env.pop("HARBOURMASTER_MASTER_KEY", None)
        before = self.lines("ready")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration._job_worker", str(self.record), str(lease)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.processes.append(proc)
        wait_for(lambda: len(self.lines("ready")) > len(before) or proc.poll() is not None,
                 "a worker to start")
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        return proc

    def lines(self, first: str) -> list[list[str]]:
        if not self.record.exists():
            return []
        words = (line.split() for line in self.record.read_text().splitlines())
        return [w[1:] for w in words if w and w[0] == first]

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")



@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed attempt waits 0.2 s, then 0.4 s, before the next (30 s by default): these tests follow
    a failing job through its three attempts on the real clock."""
    monkeypatch.setenv("HARBOURMASTER_JOB_RETRY_SECONDS", "0.2")

@pytest.fixture
def pg(postgres_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    core = core_on(postgres_url, tmp_path / "home")
    yield core
    core.db.dispose()


@pytest.fixture
def workers(pg: Harbourmaster, postgres_url: str, tmp_path: Path) -> Iterator[Workers]:
    running = Workers(postgres_url, tmp_path / "home", tmp_path / "record.txt")
    yield running
    running.stop_all()


def _enqueue(hm: Harbourmaster, kind: str, count: int = 1, **payload: object) -> list[int]:
    with hm.store.transaction() as tx:
        return [tx.jobs.enqueue(kind=kind, payload=payload, created_by="local:tests", now=hm.clock.now()).id
                for _ in range(count)]


def _job(hm: Harbourmaster, job_id: int) -> StoredJob:
    with hm.store.read() as tx:
        job = tx.jobs.get(job_id)
    assert job is not None
    return job


def _audit(hm: Harbourmaster, job_id: int) -> list[tuple[str, str]]:
    with hm.store.read() as tx:
        return [(e.action, str(e.details.get("worker"))) for e in tx.audit.entries()
                if e.target == f"job/{job_id}"]


def test_two_worker_processes_never_take_the_same_job(pg: Harbourmaster, workers: Workers) -> None:
    first, second = workers.start(lease=30), workers.start(lease=30)
    ids = _enqueue(pg, "test.record", 100, sleep=0.01)
    wait_for(lambda: len(workers.lines("done")) >= 100, "100 jobs to be done")
    time.sleep(0.5)  # a duplicate would show up now
    done = workers.lines("done")
    assert Counter(int(job) for job, _ in done) == Counter(ids)  # each exactly once
    by_worker = Counter(owner for _, owner in done)
    assert len(by_worker) == 2, by_worker  # both took part
    with pg.store.read() as tx:
        jobs = [tx.jobs.get(i) for i in ids]
        assert verify_audit(tx.audit).ok
    assert all(j is not None and (j.state, j.attempts) == (JobState.SUCCEEDED, 1) for j in jobs)
    assert {j.result["worker"] for j in jobs if j is not None} == set(by_worker)
    workers.stop_all()
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert len(workers.lines("stopped")) == 2


def test_a_job_of_a_killed_worker_is_retried_by_another_after_its_lease(
    pg: Harbourmaster, workers: Workers
) -> None:
    doomed = workers.start(lease=2)
    (job_id,) = _enqueue(pg, "test.stall")
    wait_for(lambda: bool(workers.lines("started")), "the job to start")
    (started,) = workers.lines("started")
    survivor = workers.start(lease=2)
    # The first worker's heartbeat keeps its lease: the second does not take the job meanwhile.
    time.sleep(4)
    held = _job(pg, job_id)
    assert (held.state, held.attempts, held.lease_owner) == (JobState.RUNNING, 1, started[2])
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    wait_for(lambda: _job(pg, job_id).state is JobState.SUCCEEDED, "another worker to finish the job")
    job = _job(pg, job_id)
    retried = [line for line in workers.lines("started") if line[1] == "2"]
    assert len(retried) == 1 and retried[0][2] != started[2]
    assert (job.attempts, job.result, job.error) == (2, {"worker": retried[0][2]}, None)
    assert _audit(pg, job_id) == [("job.started", started[2]), ("job.started", retried[0][2]),
                                  ("job.succeeded", retried[0][2])]
    assert survivor.poll() is None


def test_a_poison_job_ends_failed_after_three_tries(pg: Harbourmaster, workers: Workers) -> None:
    workers.start(lease=10)
    workers.start(lease=10)
    (job_id,) = _enqueue(pg, "test.poison")
    wait_for(lambda: _job(pg, job_id).state is JobState.FAILED, "the poison job to fail")
    time.sleep(0.5)
    job = _job(pg, job_id)
    assert (job.attempts, job.lease_owner) == (3, None)
    assert job.error == f"job {job_id} cannot be digested (attempt 3)"
    assert [int(a) for j, a in workers.lines("tried") if int(j) == job_id] == [1, 2, 3]
    assert [a for a, _ in _audit(pg, job_id)] == ["job.started", "job.failed"] * 3


def test_a_failed_attempt_waits_before_the_next_on_postgresql(pg: Harbourmaster, workers: Workers) -> None:
    workers.start(lease=10)
    (job_id,) = _enqueue(pg, "test.poison")
    wait_for(lambda: _job(pg, job_id).state is JobState.FAILED, "the poison job to fail")
    with pg.store.read() as tx:
        failed = [(e.time, e.details) for e in tx.audit.entries()
                  if e.target == f"job/{job_id}" and e.action == "job.failed"]
        started = [datetime.fromisoformat(e.time) for e in tx.audit.entries()
                   if e.target == f"job/{job_id}" and e.action == "job.started"]
    assert [d["retry"] for _, d in failed] == [True, True, False]
    # Each retry started no earlier than the failure's retry_at: 0.2 s, then 0.4 s, after the failure.
    for (_, details), begun in zip(failed[:2], started[1:], strict=True):
        retry_at = datetime.fromisoformat(str(details["retry_at"]))
        assert begun >= retry_at, (begun, retry_at)
    waits = [(datetime.fromisoformat(str(d["retry_at"])) - datetime.fromisoformat(t)).total_seconds()
             for t, d in failed[:2]]
    assert [round(w, 1) for w in waits] == [0.2, 0.4]
