"""Background jobs: the registry of job kinds and the worker that runs them.

A job is a row in the store (:class:`~harbourmaster.store.interface.JobRepository`).  A worker
claims one under a lease, runs its kind's handler while a heartbeat thread extends the lease (and
writes the handler's progress), then completes it with the handler's result or fails the attempt
with its error; a failed attempt is queued again while attempts remain.  A worker that dies mid-job
simply stops extending its lease: once the lease expires another worker claims the job (that attempt
counts).  Every start and finish is audited (``job.started``, ``job.succeeded``, ``job.failed``, with
the job's id and kind) in the transaction that changes the job, in the name of whoever submitted it.

:func:`run_worker` is the loop (``harbourmaster worker`` runs one per ``--concurrency``; ``serve``
runs one embedded on SQLite); :class:`WorkerThreads` runs loops on threads and stops them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Collection

from harbourmaster.errors import BadInput, Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import BUILTIN_KINDS, JobKind
from harbourmaster.store.values import JobState, StoredJob

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "MAX_RETRY_DELAY",
    "WorkerThreads",
    "job_kind",
    "job_kinds",
    "register_job_kind",
    "retry_delay",
    "run_one",
    "run_worker",
    "unregister_job_kind",
]

log = logging.getLogger(__name__)

#: How long a claim holds a job without a heartbeat (the heartbeat renews it every third of it).
DEFAULT_LEASE_SECONDS = 60.0
#: The longest wait between two attempts, however many failed before.
MAX_RETRY_DELAY = dt.timedelta(minutes=15)


def retry_delay(first_seconds: float, failed_attempts: int) -> dt.timedelta:
    """How long a job waits after its ``failed_attempts``-th failed attempt: ``first_seconds``, doubled
    after each further failure, at most :data:`MAX_RETRY_DELAY` (a registry that is down for a minute
    does not use up every attempt in a second)."""
    if first_seconds <= 0:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=first_seconds * 2 ** max(0, failed_attempts - 1)), MAX_RETRY_DELAY)
#: Progress is written at most this often (a handler may report it on every chunk it reads).
PROGRESS_WRITE_INTERVAL = 0.25

_KINDS: dict[str, JobKind] = {kind.name: kind for kind in BUILTIN_KINDS}
_KINDS_LOCK = threading.Lock()


def register_job_kind(kind: JobKind) -> None:
    """Make ``kind`` known to submitters and workers in this process (replacing one of that name)."""
    with _KINDS_LOCK:
        _KINDS[kind.name] = kind


def unregister_job_kind(name: str) -> None:
    with _KINDS_LOCK:
        _KINDS.pop(name, None)


def job_kind(name: str) -> JobKind:
    """The kind called ``name``.

    Raises:
        BadInput: no such kind is registered.
    """
    with _KINDS_LOCK:
        kind = _KINDS.get(name)
    if kind is None:
        raise BadInput(f"no job kind {name!r}; known kinds: {', '.join(job_kinds())}")
    return kind


def job_kinds() -> list[str]:
    with _KINDS_LOCK:
        return sorted(_KINDS)


class _Lease:
    """Holds a claimed job's lease while its handler runs: a thread renews it every third of the lease
    and writes the handler's progress (at most every :data:`PROGRESS_WRITE_INTERVAL` seconds)."""

    def __init__(self, hm: Harbourmaster, job: StoredJob, *, owner: str, lease_seconds: float) -> None:
        self._hm, self._job, self._owner, self._lease = hm, job, owner, lease_seconds
        self._lock = threading.Lock()
        self._fraction: float | None = None
        self._message: str | None = None
        self._dirty = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name=f"job-{job.id}-lease", daemon=True)

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join()

    def progress(self, fraction: float | None = None, message: str | None = None) -> None:
        with self._lock:
            if fraction is not None:
                self._fraction = fraction
            if message is not None:
                self._message = message
            self._dirty = True
        self._wake.set()

    def _run(self) -> None:
        interval = self._lease / 3
        due = time.monotonic() + interval
        while not self._stop.is_set():
            self._wake.wait(timeout=max(0.0, due - time.monotonic()))
            if self._stop.is_set():
                return
            self._wake.clear()
            with self._lock:
                fraction, message, dirty = self._fraction, self._message, self._dirty
                self._dirty = False
            if not dirty and time.monotonic() < due:
                continue
            try:
                with self._hm.store.transaction() as tx:
                    held = tx.jobs.heartbeat(self._job.id, owner=self._owner, now=self._hm.clock.now(),
                                             lease_seconds=self._lease, progress=fraction, message=message)
            except Error as exc:
                log.warning("job %d: the lease was not renewed: %s", self._job.id, exc.diagnostics())
                continue
            if not held:
                self.lost = True
                log.warning("job %d: worker %s lost its lease (it expired and the job was claimed again)",
                            self._job.id, self._owner)
                return
            due = time.monotonic() + interval
            self._stop.wait(PROGRESS_WRITE_INTERVAL)


def _audit_details(job: StoredJob, owner: str, **more: object) -> dict[str, object]:
    return {"id": job.id, "kind": job.kind, "attempt": job.attempts, "max_attempts": job.max_attempts,
            "worker": owner, **more}


def _claim(hm: Harbourmaster, *, owner: str, kinds: Collection[str],
           lease_seconds: float) -> StoredJob | None:
    with hm.store.transaction() as tx:
        job = tx.jobs.claim(owner=owner, now=hm.clock.now(), lease_seconds=lease_seconds, kinds=kinds)
        if job is not None:
            tx.audit.append(actor=job.created_by, action="job.started", target=f"job/{job.id}",
                            details=_audit_details(job, owner))
    return job


def _run_handler(hm: Harbourmaster, job: StoredJob, kind: JobKind,
                 lease: _Lease) -> tuple[object, str | None]:
    """The handler's result and None, or None and the error that failed the attempt."""
    try:
        result = kind.handler(hm, job, lease.progress)
    except Error as exc:
        return None, exc.diagnostics()
    except Exception as exc:  # a worker outlives any one job
        log.exception("job %d (%s): the handler failed", job.id, job.kind)
        return None, f"unexpected {type(exc).__name__} (a harbourmaster defect): {exc}"
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return None, f"the {job.kind} handler returned a result that is not JSON: {exc}"
    return result, None


def run_one(hm: Harbourmaster, *, owner: str, kinds: Collection[str] | None = None,
            lease_seconds: float = DEFAULT_LEASE_SECONDS) -> StoredJob | None:
    """Claim one job of ``kinds`` (None: every registered kind) for ``owner``, run it, and record how it
    ended; the job as it is afterwards, or None when none was waiting.

    Raises:
        StoreError: the database failed (the job, if claimed, is retried when its lease expires).
    """
    with _KINDS_LOCK:
        known = dict(_KINDS)
    wanted = sorted(known if kinds is None else set(kinds) & set(known))
    if not wanted:
        return None
    job = _claim(hm, owner=owner, kinds=wanted, lease_seconds=lease_seconds)
    if job is None:
        return None
    log.info("job %d (%s) started by %s: attempt %d of %d", job.id, job.kind, owner, job.attempts,
             job.max_attempts)
    started = time.monotonic()
    with _Lease(hm, job, owner=owner, lease_seconds=lease_seconds) as lease:
        result, error = _run_handler(hm, job, known[job.kind], lease)
    took = time.monotonic() - started
    with hm.store.transaction() as tx:
        now = hm.clock.now()
        if error is None:
            done = tx.jobs.complete(job.id, owner=owner, now=now, result=result)
            if done:
                tx.audit.append(actor=job.created_by, action="job.succeeded", target=f"job/{job.id}",
                                details=_audit_details(job, owner, seconds=round(took, 3)))
        else:
            retry_at = now + retry_delay(hm.settings.job_retry_seconds, job.attempts)
            state = tx.jobs.fail(job.id, owner=owner, now=now, error=error, retry_at=retry_at)
            done = state is not None
            if done:
                retry = state is JobState.QUEUED
                more: dict[str, object] = {"error": error, "retry": retry}
                if retry:
                    more["retry_at"] = retry_at.isoformat()
                tx.audit.append(actor=job.created_by, action="job.failed", target=f"job/{job.id}",
                                result="failed", details=_audit_details(job, owner, **more))
        ended = tx.jobs.get(job.id)
    if not done:
        log.warning("job %d (%s): worker %s no longer held it; its outcome was dropped", job.id, job.kind,
                    owner)
    elif error is None:
        log.info("job %d (%s) succeeded in %.1fs", job.id, job.kind, took)
    else:
        log.warning("job %d (%s) failed in %.1fs (attempt %d of %d): %s", job.id, job.kind, took,
                    job.attempts, job.max_attempts, error)
    return ended


def run_worker(hm: Harbourmaster, *, owner: str, stop_event: threading.Event,
               kinds: Collection[str] | None = None, poll_interval: float = 1.0,
               lease_seconds: float = DEFAULT_LEASE_SECONDS) -> int:
    """Run jobs until ``stop_event`` is set (the job in hand is finished first); waits
    ``poll_interval`` seconds whenever none is waiting.  Returns how many jobs it ran.  A failing
    database is logged and tried again: the worker outlives it."""
    ran = 0
    while not stop_event.is_set():
        try:
            job = run_one(hm, owner=owner, kinds=kinds, lease_seconds=lease_seconds)
        except Error as exc:
            log.warning("job worker %s: %s", owner, exc.diagnostics())
            job = None
        except Exception:  # the loop must outlive any one failure
            log.exception("job worker %s failed; trying again", owner)
            job = None
        if job is None:
            stop_event.wait(poll_interval)
        else:
            ran += 1
    return ran


class WorkerThreads:
    """``concurrency`` workers (:func:`run_worker`) on threads of this process, named ``name:i`` (the
    surface names the process: host and pid); :meth:`stop` lets each finish the job in hand.

    Raises:
        BadInput: ``concurrency`` is below 1, or a kind in ``kinds`` is not registered (a worker that
            would never run anything).
    """

    def __init__(self, hm: Harbourmaster, *, name: str, concurrency: int = 1,
                 kinds: Collection[str] | None = None, poll_interval: float = 1.0,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        if concurrency < 1:
            raise BadInput("a worker needs a concurrency of at least 1")
        for name in kinds or ():
            job_kind(name)
        self._hm, self._name, self._count, self._kinds = hm, name, concurrency, kinds
        self._poll, self._lease = poll_interval, lease_seconds
        self.stop_event = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.stop_event.clear()
        for index in range(self._count):
            owner = f"{self._name}:{index}"
            thread = threading.Thread(
                target=run_worker, name=f"job-worker-{index}", daemon=True,
                kwargs={"hm": self._hm, "owner": owner, "stop_event": self.stop_event, "kinds": self._kinds,
                        "poll_interval": self._poll, "lease_seconds": self._lease})
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        """Stop every worker after its current job (wait at most ``timeout`` seconds in all)."""
        self.stop_event.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)
