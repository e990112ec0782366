"""The in-memory job repository: jobs leased to one worker at a time, as the SQL store does it."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace

from harbourmaster.store.job_interface import JobRepository
from harbourmaster.store.values import JobState, StoredJob, abandoned_error

__all__ = ["JobTables", "MemoryJobRepository"]


@dataclass
class JobTables:
    jobs: dict[int, StoredJob] = field(default_factory=dict)
    next_id: int = 1


class MemoryJobRepository(JobRepository):
    """Writers take turns in the memory store, so a claim needs no row locks."""

    def __init__(self, tables: JobTables) -> None:
        self._t = tables

    def enqueue(self, *, kind: str, payload: Mapping[str, object], created_by: str, now: dt.datetime,
                max_attempts: int = 3) -> StoredJob:
        job = StoredJob(id=self._t.next_id, kind=kind, payload=copy.deepcopy(dict(payload)),
                        state=JobState.QUEUED, attempts=0, max_attempts=max_attempts, lease_owner=None,
                        lease_expires_at=None, progress=0.0, progress_message=None, result=None,
                        error=None, created_at=now, updated_at=now, created_by=created_by)
        self._t.jobs[job.id] = job
        self._t.next_id += 1
        return job

    def claim(self, *, owner: str, now: dt.datetime, lease_seconds: float,
              kinds: Collection[str] | None = None) -> StoredJob | None:
        for job_id in sorted(self._t.jobs):
            job = self._t.jobs[job_id]
            if kinds is not None and job.kind not in kinds:
                continue
            expired = job.state is JobState.RUNNING and job.lease_expires_at is not None \
                and job.lease_expires_at < now
            if job.state is not JobState.QUEUED and not expired:
                continue
            if job.state is JobState.QUEUED and job.run_after is not None and job.run_after > now:
                continue  # queued again after a failure: not yet
            error = job.error
            if expired:
                error = abandoned_error(owner=job.lease_owner, attempt=job.attempts,
                                        max_attempts=job.max_attempts, previous=job.error)
                if job.attempts >= job.max_attempts:
                    self._t.jobs[job_id] = replace(job, state=JobState.FAILED, error=error, lease_owner=None,
                                                   lease_expires_at=None, updated_at=now)
                    continue
            claimed = replace(job, state=JobState.RUNNING, attempts=job.attempts + 1, lease_owner=owner,
                              lease_expires_at=now + dt.timedelta(seconds=lease_seconds), progress=0.0,
                              progress_message=None, error=error, updated_at=now, run_after=None)
            self._t.jobs[job_id] = claimed
            return claimed
        return None

    def _held(self, job_id: int, owner: str) -> StoredJob | None:
        job = self._t.jobs.get(job_id)
        if job is None or job.state is not JobState.RUNNING or job.lease_owner != owner:
            return None
        return job

    def heartbeat(self, job_id: int, *, owner: str, now: dt.datetime, lease_seconds: float,
                  progress: float | None = None, message: str | None = None) -> bool:
        job = self._held(job_id, owner)
        if job is None:
            return False
        self._t.jobs[job_id] = replace(
            job, lease_expires_at=now + dt.timedelta(seconds=lease_seconds), updated_at=now,
            progress=job.progress if progress is None else min(1.0, max(0.0, progress)),
            progress_message=job.progress_message if message is None else message[:512])
        return True

    def complete(self, job_id: int, *, owner: str, now: dt.datetime, result: object) -> bool:
        job = self._held(job_id, owner)
        if job is None:
            return False
        self._t.jobs[job_id] = replace(job, state=JobState.SUCCEEDED, result=copy.deepcopy(result),
                                       error=None, progress=1.0, lease_owner=None, lease_expires_at=None,
                                       updated_at=now)
        return True

    def fail(self, job_id: int, *, owner: str, now: dt.datetime, error: str,
             retry_at: dt.datetime | None = None) -> JobState | None:
        job = self._held(job_id, owner)
        if job is None:
            return None
        state = JobState.QUEUED if job.attempts < job.max_attempts else JobState.FAILED
        run_after = retry_at if state is JobState.QUEUED else None
        self._t.jobs[job_id] = replace(job, state=state, error=error, lease_owner=None, lease_expires_at=None,
                                       updated_at=now, run_after=run_after)
        return state

    def get(self, job_id: int) -> StoredJob | None:
        return self._t.jobs.get(job_id)

    def recent(self, *, limit: int = 50, state: JobState | None = None) -> list[StoredJob]:
        jobs = [j for _, j in sorted(self._t.jobs.items(), reverse=True) if state is None or j.state is state]
        return jobs[:limit]
