"""The job repository's interface: background work kept as rows, leased to one worker at a time
(implemented by :mod:`harbourmaster.store.jobs`; the runner is :mod:`harbourmaster.services.jobs`)."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping

from harbourmaster.store.values import JobState, StoredJob

__all__ = ["JobRepository"]


class JobRepository(ABC):
    """Background jobs, leased to one worker at a time.

    A worker claims a job for ``lease_seconds`` and keeps it by extending the lease; a job whose lease
    ran out (its worker died) is claimable again.  Each claim counts an attempt.  Only the lease's
    owner may extend, complete or fail a job: a worker that lost its lease changes nothing.
    """

    @abstractmethod
    def enqueue(self, *, kind: str, payload: Mapping[str, object], created_by: str, now: dt.datetime,
                max_attempts: int = 3) -> StoredJob:
        """Keep a new queued job; returns it."""

    @abstractmethod
    def claim(self, *, owner: str, now: dt.datetime, lease_seconds: float,
              kinds: Collection[str] | None = None) -> StoredJob | None:
        """Lease the oldest claimable job (queued, or running with its lease expired) of one of ``kinds``
        (None: any) to ``owner`` and count the attempt; None when there is none.  A lease-expired job
        that has used up its attempts is failed instead, keeping its last error.  On PostgreSQL
        concurrent claimers skip each other's rows (``FOR UPDATE SKIP LOCKED``); SQLite serialises
        writers."""

    @abstractmethod
    def heartbeat(self, job_id: int, *, owner: str, now: dt.datetime, lease_seconds: float,
                  progress: float | None = None, message: str | None = None) -> bool:
        """Extend ``owner``'s lease (and record progress); False when ``owner`` no longer holds it."""

    @abstractmethod
    def complete(self, job_id: int, *, owner: str, now: dt.datetime, result: object) -> bool:
        """Mark ``owner``'s job succeeded with ``result`` (JSON); False when ``owner`` lost the lease."""

    @abstractmethod
    def fail(self, job_id: int, *, owner: str, now: dt.datetime, error: str,
             retry_at: dt.datetime | None = None) -> JobState | None:
        """Record ``error`` on ``owner``'s job: queued again while attempts remain (not claimed before
        ``retry_at``), else failed.  The new state, or None when ``owner`` lost the lease."""

    @abstractmethod
    def get(self, job_id: int) -> StoredJob | None:
        """The job with that id."""

    @abstractmethod
    def recent(self, *, limit: int = 50, state: JobState | None = None) -> list[StoredJob]:
        """The newest ``limit`` jobs (in ``state``), newest first."""
