"""The job runner on the fakes: submitting (permission, payload checked at once), running (result,
retries, poison jobs, progress, a lost lease), the audit of each start and finish, the worker loop,
and the built-in ``sbom.generate`` kind end to end against a fake registry."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, Error, Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import JobKind, JobProgress, job_principal
from harbourmaster.services.job_requests import (
    JobWaitTimeout,
    get_job,
    list_jobs,
    submit_job,
    submit_sbom_generate,
    wait_for_job,
)
from harbourmaster.services.jobs import (
    MAX_RETRY_DELAY,
    WorkerThreads,
    job_kinds,
    register_job_kind,
    retry_delay,
    run_one,
    run_worker,
    unregister_job_kind,
)
from harbourmaster.services.registry_scope import ImageNotInApprovedRegistry
from harbourmaster.services.sbom_ops import stored_sboms
from harbourmaster.store.values import JobState, StoredJob
from tests.fakes.clock import FixedClock
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)
AUDITOR = Principal("auditor", Role.AUDITOR)


class Flaky(Error):
    kind = "test-flaky"


class Script:
    """A test kind's behaviour: each attempt pops the next outcome (an exception raises, else returned)."""

    def __init__(self) -> None:
        self.outcomes: list[object] = []
        self.seen: list[StoredJob] = []

    def __call__(self, core: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        self.seen.append(job)
        outcome = self.outcomes.pop(0) if self.outcomes else {"echo": job.payload}
        if isinstance(outcome, BaseException):
            raise outcome
        if callable(outcome):
            return outcome(core, job, progress)
        return outcome


@pytest.fixture
def script() -> Iterator[Script]:
    handler = Script()
    register_job_kind(JobKind(name="test.script", handler=handler, permission=Permission.GOVERNANCE_WRITE))
    yield handler
    unregister_job_kind("test.script")


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _actions(core: Harbourmaster, prefix: str = "job.") -> list[tuple[str, str, str, dict[str, Any]]]:
    with core.store.read() as tx:
        return [(e.action, e.actor, e.result, dict(e.details)) for e in tx.audit.entries()
                if e.action.startswith(prefix)]


def test_a_job_runs_in_a_worker_and_keeps_its_result(applied: Harbourmaster, script: Script) -> None:
    queued = submit_job(applied, ADMIN, "test.script", {"n": 1})
    assert (queued.state, queued.attempts, queued.created_by, queued.kind) == (
        JobState.QUEUED, 0, "admin", "test.script")
    ended = run_one(applied, owner="w1")
    assert ended is not None and ended.id == queued.id
    job = get_job(applied, AUDITOR, queued.id)
    assert (job.state, job.result, job.attempts, job.progress, job.error) == (
        JobState.SUCCEEDED, {"echo": {"n": 1}}, 1, 1.0, None)
    assert run_one(applied, owner="w1") is None
    assert [(a, actor, r, d.get("kind"), d.get("id")) for a, actor, r, d in _actions(applied)] == [
        ("job.enqueued", "admin", "ok", "test.script", job.id),
        ("job.started", "admin", "ok", "test.script", job.id),
        ("job.succeeded", "admin", "ok", "test.script", job.id),
    ]
    assert _actions(applied)[1][3]["worker"] == "w1"


def test_submitting_needs_the_kinds_permission_and_a_known_kind(
    applied: Harbourmaster, script: Script
) -> None:
    with pytest.raises(Forbidden):
        submit_job(applied, AUDITOR, "test.script", {})
    with pytest.raises(BadInput, match=r"no job kind 'no\.such'"):
        submit_job(applied, ADMIN, "no.such", {})
    with pytest.raises(Forbidden):
        submit_sbom_generate(applied, AUDITOR, "harbor.corp/payments/api:1.4")
    # The payload is checked when the job is submitted: an image in no approved registry is refused now.
    with pytest.raises(ImageNotInApprovedRegistry):
        submit_sbom_generate(applied, ADMIN, "elsewhere.example/app:1")
    with pytest.raises(BadInput):
        submit_sbom_generate(applied, ADMIN, "Not A Reference")
    assert list_jobs(applied, ADMIN) == []


def test_a_failed_attempt_is_retried_after_a_wait_and_audited(
    applied: Harbourmaster, script: Script, clock: FixedClock
) -> None:
    script.outcomes = [Flaky("the registry blinked"), {"ok": True}]
    job_id = submit_job(applied, ADMIN, "test.script", {}).id
    first = run_one(applied, owner="w1")
    wait = dt.timedelta(seconds=applied.settings.job_retry_seconds)
    assert wait == dt.timedelta(seconds=30)  # the default
    assert first is not None and (first.state, first.attempts, first.error, first.run_after) == (
        JobState.QUEUED, 1, "the registry blinked", clock.now() + wait)
    retry_at = clock.now() + wait
    clock.advance(wait - dt.timedelta(seconds=1))
    assert run_one(applied, owner="w2") is None  # not before its time
    clock.advance(dt.timedelta(seconds=1))
    second = run_one(applied, owner="w2")
    assert second is not None and (second.state, second.attempts, second.result, second.error) == (
        JobState.SUCCEEDED, 2, {"ok": True}, None)
    failed = [d for a, _, r, d in _actions(applied) if a == "job.failed"]
    assert failed == [{"id": job_id, "kind": "test.script", "attempt": 1, "max_attempts": 3, "worker": "w1",
                       "error": "the registry blinked", "retry": True, "retry_at": retry_at.isoformat()}]


def test_the_wait_doubles_after_each_failure_up_to_fifteen_minutes() -> None:
    assert [retry_delay(30, n).total_seconds() for n in range(1, 8)] == [30, 60, 120, 240, 480, 900, 900]
    assert retry_delay(0, 3) == dt.timedelta(0)  # 0: at once
    assert retry_delay(1, 1) == dt.timedelta(seconds=1)


def test_a_poison_job_ends_failed_after_three_tries_with_its_last_error(
    applied: Harbourmaster, script: Script, clock: FixedClock
) -> None:
    script.outcomes = [Flaky(f"bad payload, try {n}") for n in range(1, 4)]
    job_id = submit_job(applied, ADMIN, "test.script", {"poison": True}).id
    ends = []
    for _ in range(3):
        ends.append(run_one(applied, owner="w"))
        clock.advance(MAX_RETRY_DELAY)
    assert [(j.state, j.attempts) for j in ends if j is not None] == [
        (JobState.QUEUED, 1), (JobState.QUEUED, 2), (JobState.FAILED, 3)]
    assert run_one(applied, owner="w") is None  # never tried a fourth time
    job = get_job(applied, ADMIN, job_id)
    assert (job.state, job.error, job.result) == (JobState.FAILED, "bad payload, try 3", None)
    failed = [(r, d["attempt"], d["retry"]) for a, _, r, d in _actions(applied) if a == "job.failed"]
    assert failed == [("failed", 1, True), ("failed", 2, True), ("failed", 3, False)]
    assert len(script.seen) == 3


def test_an_unexpected_exception_or_a_result_that_is_not_json_fails_the_attempt(
    applied: Harbourmaster, script: Script, clock: FixedClock
) -> None:
    script.outcomes = [RuntimeError("a defect"), {"when": dt.datetime(2026, 1, 1)}]
    submit_job(applied, ADMIN, "test.script", {})
    first = run_one(applied, owner="w")
    clock.advance(MAX_RETRY_DELAY)
    second = run_one(applied, owner="w")
    assert first is not None and first.error == "unexpected RuntimeError (a harbourmaster defect): a defect"
    assert second is not None and second.error is not None
    assert second.error.startswith("the test.script handler returned a result that is not JSON")


def test_progress_is_written_while_the_handler_runs(applied: Harbourmaster, script: Script) -> None:
    seen = threading.Event()
    release = threading.Event()

    def halfway(core: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        progress(0.5, "half of the layers read")
        assert seen.wait(10), "the test never saw the progress"
        release.wait(10)
        return "done"

    script.outcomes = [halfway]
    job_id = submit_job(applied, ADMIN, "test.script", {}).id
    runner = threading.Thread(target=run_one, kwargs={"hm": applied, "owner": "w"})
    runner.start()
    try:
        job = wait_for_job_progress(applied, job_id)
        assert (job.state, job.progress, job.progress_message, job.lease_owner) == (
            JobState.RUNNING, 0.5, "half of the layers read", "w")
        seen.set()
        release.set()
    finally:
        seen.set()
        release.set()
        runner.join(10)
    assert get_job(applied, ADMIN, job_id).state is JobState.SUCCEEDED


def wait_for_job_progress(core: Harbourmaster, job_id: int) -> Any:
    deadline = threading.Event()
    for _ in range(200):
        job = get_job(core, ADMIN, job_id)
        if job.progress > 0:
            return job
        deadline.wait(0.05)
    raise AssertionError("no progress was written")


def test_a_worker_that_lost_its_lease_changes_nothing(
    applied: Harbourmaster, script: Script, clock: FixedClock
) -> None:
    def stalls(core: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        # This worker stalls past its lease; another one claims the job and finishes it meanwhile.
        clock.advance(dt.timedelta(seconds=61))
        script.outcomes = [{"by": "w2"}]
        assert run_one(core, owner="w2") is not None
        return {"by": "w1"}

    script.outcomes = [stalls]
    job_id = submit_job(applied, ADMIN, "test.script", {}).id
    run_one(applied, owner="w1", lease_seconds=60)
    job = get_job(applied, ADMIN, job_id)
    assert (job.state, job.result, job.attempts) == (JobState.SUCCEEDED, {"by": "w2"}, 2)
    finished = [(a, d["worker"]) for a, _, _, d in _actions(applied) if a in ("job.succeeded", "job.failed")]
    assert finished == [("job.succeeded", "w2")]


def test_workers_claim_only_the_kinds_they_run(applied: Harbourmaster, script: Script) -> None:
    job_id = submit_job(applied, ADMIN, "test.script", {}).id
    assert run_one(applied, owner="w", kinds=["sbom.generate"]) is None
    assert run_one(applied, owner="w", kinds=["not.registered"]) is None
    assert get_job(applied, ADMIN, job_id).state is JobState.QUEUED
    assert "sbom.generate" in job_kinds() and "test.script" in job_kinds()


def test_the_worker_loop_runs_jobs_until_stopped(applied: Harbourmaster, script: Script) -> None:
    ids = [submit_job(applied, ADMIN, "test.script", {"n": n}).id for n in range(5)]
    stop = threading.Event()
    script.outcomes = [*([{"ok": n} for n in range(4)]), lambda *_: stop.set() or {"ok": "last"}]
    assert run_worker(applied, owner="loop", stop_event=stop, poll_interval=0.01) == 5
    assert [get_job(applied, ADMIN, i).state for i in ids] == [JobState.SUCCEEDED] * 5


def test_worker_threads_run_jobs_and_stop(applied: Harbourmaster, script: Script) -> None:
    ids = [submit_job(applied, ADMIN, "test.script", {"n": n}).id for n in range(6)]
    workers = WorkerThreads(applied, name="unit", concurrency=2, poll_interval=0.01)
    workers.start()
    try:
        done = [wait_for_job(applied, ADMIN, i, poll_interval=0.02, timeout=20) for i in ids]
    finally:
        workers.stop(timeout=10)
    assert not workers.running
    assert [j.state for j in done] == [JobState.SUCCEEDED] * 6
    started = {d["worker"].rsplit(":", 1)[1] for a, _, _, d in _actions(applied) if a == "job.started"}
    assert started <= {"0", "1"}
    assert all(d["worker"].startswith("unit:") for a, _, _, d in _actions(applied) if a == "job.started")
    with pytest.raises(BadInput):
        WorkerThreads(applied, name="unit", concurrency=0)
    with pytest.raises(BadInput, match="no job kind"):
        WorkerThreads(applied, name="unit", kinds=["no.such"])


def test_waiting_gives_up_after_the_timeout(applied: Harbourmaster, script: Script) -> None:
    job_id = submit_job(applied, ADMIN, "test.script", {}).id
    with pytest.raises(JobWaitTimeout, match=f"job {job_id} is still queued"):
        wait_for_job(applied, ADMIN, job_id, poll_interval=0.01, timeout=0.05)


def test_a_job_acts_for_its_creator_with_their_role_now(applied: Harbourmaster) -> None:
    def job_by(created_by: str) -> StoredJob:
        with applied.store.transaction() as tx:
            return tx.jobs.enqueue(kind="sbom.generate", payload={}, created_by=created_by,
                                   now=applied.clock.now())

    assert job_principal(applied, job_by("auditor")) == Principal("auditor", Role.AUDITOR)
    assert job_principal(applied, job_by("local:ops")) == Principal("local:ops", Role.ADMINISTRATOR)
    with pytest.raises(Forbidden, match="no longer a user"):
        job_principal(applied, job_by("gone-user"))


def test_sbom_generate_runs_end_to_end(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    queued = submit_sbom_generate(applied, ADMIN, "harbor.corp/payments/api:1.4")
    assert queued.payload == {"image": "harbor.corp/payments/api:1.4"}
    ended = run_one(applied, owner="w")
    assert ended is not None and ended.state is JobState.SUCCEEDED, ended.error if ended else None
    assert ended.result["digest"] == digest
    assert ended.result["operation"] == "generate"
    assert [s.image_digest for s in stored_sboms(applied, ADMIN)] == [digest]
    generated = _actions(applied, "sbom.generate")
    assert [(actor, r) for _, actor, r, _ in generated] == [("admin", "ok")]


def test_sbom_generate_fails_for_a_creator_who_lost_the_permission(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    harbor.push("payments/api", "1.4")
    with applied.store.transaction() as tx:
        job_id = tx.jobs.enqueue(kind="sbom.generate", payload={"image": "harbor.corp/payments/api:1.4"},
                                 created_by="auditor", now=applied.clock.now()).id
    ended = run_one(applied, owner="w")
    assert ended is not None and ended.id == job_id and ended.state is JobState.QUEUED
    assert ended.error is not None and "auditor (auditor) may not registry.probe" in ended.error
