"""The job repository on SQLAlchemy: background jobs leased to workers.

Claiming takes the oldest claimable row with ``SELECT ... FOR UPDATE SKIP LOCKED``: on PostgreSQL
any number of workers claim side by side, each skipping the rows another has locked; SQLite ignores
the clause, and needs none, since its writers are serialised (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from harbourmaster.store.job_interface import JobRepository
from harbourmaster.store.models import JobRow
from harbourmaster.store.values import JobState, StoredJob, abandoned_error

__all__ = ["SqlJobRepository"]

#: Longest progress message kept (the column's width).
_MESSAGE_CHARS = 512


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps the wall time without its zone: every stamp is written in UTC so they compare.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _job(row: JobRow) -> StoredJob:
    return StoredJob(
        id=row.id, kind=row.kind, payload=dict(row.payload), state=JobState(row.state),
        attempts=row.attempts, max_attempts=row.max_attempts, lease_owner=row.lease_owner,
        lease_expires_at=None if row.lease_expires_at is None else _utc(row.lease_expires_at),
        progress=row.progress, progress_message=row.progress_message, result=row.result,
        error=row.error, created_at=_utc(row.created_at), updated_at=_utc(row.updated_at),
        created_by=row.created_by, run_after=None if row.run_after is None else _utc(row.run_after),
    )


class SqlJobRepository(JobRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def enqueue(self, *, kind: str, payload: Mapping[str, object], created_by: str, now: dt.datetime,
                max_attempts: int = 3) -> StoredJob:
        now = _utc(now)
        row = JobRow(kind=kind, payload=dict(payload), state=JobState.QUEUED.value, attempts=0,
                     max_attempts=max_attempts, progress=0.0, created_at=now, updated_at=now,
                     created_by=created_by)
        self._session.add(row)
        self._session.flush()
        return _job(row)

    def claim(self, *, owner: str, now: dt.datetime, lease_seconds: float,
              kinds: Collection[str] | None = None) -> StoredJob | None:
        now = _utc(now)
        due = or_(JobRow.run_after.is_(None), JobRow.run_after <= now)
        claimable = or_(
            and_(JobRow.state == JobState.QUEUED.value, due),
            and_(JobRow.state == JobState.RUNNING.value, JobRow.lease_expires_at < now),
        )
        query = select(JobRow).where(claimable)
        if kinds is not None:
            query = query.where(JobRow.kind.in_(sorted(kinds)))
        query = query.order_by(JobRow.id).limit(1).with_for_update(skip_locked=True)
        while (row := self._session.scalar(query)) is not None:
            if row.state == JobState.RUNNING.value:
                # Its worker died (or hung) holding it: that attempt is used up.
                row.error = abandoned_error(owner=row.lease_owner, attempt=row.attempts,
                                            max_attempts=row.max_attempts, previous=row.error)
                if row.attempts >= row.max_attempts:
                    row.state = JobState.FAILED.value
                    row.lease_owner, row.lease_expires_at, row.updated_at = None, None, now
                    self._session.flush()
                    continue
            row.state = JobState.RUNNING.value
            row.run_after = None
            row.attempts += 1
            row.lease_owner = owner
            row.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
            row.progress, row.progress_message = 0.0, None
            row.updated_at = now
            self._session.flush()
            return _job(row)
        return None

    def _held(self, job_id: int, owner: str) -> JobRow | None:
        row = self._session.scalar(select(JobRow).where(JobRow.id == job_id).with_for_update())
        if row is None or row.state != JobState.RUNNING.value or row.lease_owner != owner:
            return None
        return row

    def heartbeat(self, job_id: int, *, owner: str, now: dt.datetime, lease_seconds: float,
                  progress: float | None = None, message: str | None = None) -> bool:
        row = self._held(job_id, owner)
        if row is None:
            return False
        now = _utc(now)
        row.lease_expires_at = now + dt.timedelta(seconds=lease_seconds)
        if progress is not None:
            row.progress = min(1.0, max(0.0, progress))
        if message is not None:
            row.progress_message = message[:_MESSAGE_CHARS]
        row.updated_at = now
        self._session.flush()
        return True

    def complete(self, job_id: int, *, owner: str, now: dt.datetime, result: object) -> bool:
        row = self._held(job_id, owner)
        if row is None:
            return False
        row.state = JobState.SUCCEEDED.value
        row.result = result
        row.error = None
        row.progress = 1.0
        row.lease_owner, row.lease_expires_at, row.updated_at = None, None, _utc(now)
        self._session.flush()
        return True

    def fail(self, job_id: int, *, owner: str, now: dt.datetime, error: str,
             retry_at: dt.datetime | None = None) -> JobState | None:
        row = self._held(job_id, owner)
        if row is None:
            return None
        state = JobState.QUEUED if row.attempts < row.max_attempts else JobState.FAILED
        row.state = state.value
        row.error = error
        row.run_after = _utc(retry_at) if state is JobState.QUEUED and retry_at is not None else None
        row.lease_owner, row.lease_expires_at, row.updated_at = None, None, _utc(now)
        self._session.flush()
        return state

    def get(self, job_id: int) -> StoredJob | None:
        row = self._session.get(JobRow, job_id)
        return None if row is None else _job(row)

    def recent(self, *, limit: int = 50, state: JobState | None = None) -> list[StoredJob]:
        query = select(JobRow).order_by(JobRow.id.desc()).limit(limit)
        if state is not None:
            query = query.where(JobRow.state == state.value)
        return [_job(row) for row in self._session.scalars(query)]
