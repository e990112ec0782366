"""Submitting background jobs and following them: what the API's ``/jobs`` and ``harbourmaster job``
call.

Submitting a job needs its kind's permission (``sbom.generate``: ``registry.probe``, as generating
an SBOM directly does) and checks its payload at once; the job then runs in a worker, in its
submitter's name.  Reading jobs needs ``governance.read``.  Each answer is a :class:`JobPublic`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.errors import BadInput, Error, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.job_kinds import SBOM_GENERATE
from harbourmaster.services.jobs import job_kind
from harbourmaster.store.values import JobState, StoredJob

__all__ = [
    "JobPublic",
    "JobWaitTimeout",
    "get_job",
    "list_jobs",
    "submit_image_job",
    "submit_job",
    "submit_sbom_generate",
    "wait_for_job",
]

#: The most jobs one listing returns.
MAX_LISTED = 500


class JobPublic(BaseModel):
    """A background job: what it does, where it is, how far it got, and its result or error."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    progress: float
    progress_message: str | None
    result: Any = None
    error: str | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    #: Queued again after a failed attempt: not started before this (None: as soon as a worker is free).
    run_after: dt.datetime | None = None

    @classmethod
    def of(cls, job: StoredJob) -> JobPublic:
        return cls.model_validate(job)


class JobWaitTimeout(Error):
    """A job did not end within the time given to wait for it."""

    kind = "job-wait-timeout"
    status = 504


def submit_job(hm: Harbourmaster, principal: Principal, kind: str,
               payload: Mapping[str, object]) -> JobPublic:
    """Queue a job of ``kind`` with ``payload``, to run in ``principal``'s name; audited as
    ``job.enqueued``.

    Raises:
        BadInput: no such kind, or the payload is not what the kind takes.
        Forbidden: ``principal`` may not do what the kind does.
    """
    job_kind_ = job_kind(kind)
    require(principal, job_kind_.permission)
    if job_kind_.check is not None:
        job_kind_.check(hm, payload)
    with hm.store.transaction() as tx:
        job = tx.jobs.enqueue(kind=kind, payload=payload, created_by=principal.audit_name, now=hm.clock.now())
        tx.audit.append(actor=principal.audit_name, action="job.enqueued", target=f"job/{job.id}",
                        details={"id": job.id, "kind": kind})
    return JobPublic.of(job)


def submit_sbom_generate(hm: Harbourmaster, principal: Principal, image: str) -> JobPublic:
    """Queue the generation of registry image ``image``'s SBOM (see
    :func:`~harbourmaster.services.sbom_ops.generate_image_sbom`).

    Raises:
        Forbidden: ``principal`` may not use registry credentials.
        ReferenceError: ``image`` is not a valid reference.
        ImageNotInApprovedRegistry: no approved registry covers ``image``.
    """
    return submit_job(hm, principal, SBOM_GENERATE.name, {"image": image})


def submit_image_job(
    hm: Harbourmaster,
    principal: Principal,
    kind: str,
    image: str,
    *,
    environment: str | None = None,
    tier: str | None = None,
) -> JobPublic:
    """Queue ``kind`` (``sbom.attach``, ``image.scan``, ``image.verify``) for registry image ``image``
    (see :mod:`~harbourmaster.services.image_jobs`).

    Raises:
        BadInput: an unknown kind, a missing environment (verify), both an environment and a tier.
        Forbidden: ``principal`` may not use registry credentials.
        NotFound: no such environment.
        ReferenceError, ImageNotInApprovedRegistry: the image is in no approved registry.
    """
    if kind not in ("sbom.attach", "image.scan", "image.verify"):
        raise BadInput(f"{kind} is not an image job")
    if environment is not None:
        named_environment(hm.snapshot(), environment)
    payload: dict[str, object] = {"image": image}
    if environment is not None:
        payload["environment"] = environment
    if tier is not None:
        payload["tier"] = tier
    return submit_job(hm, principal, kind, payload)


def get_job(hm: Harbourmaster, principal: Principal, job_id: int) -> JobPublic:
    """Job ``job_id``.

    Raises:
        Forbidden: ``principal`` may not read governance data.
        NotFound: there is no such job.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.store.read() as tx:
        job = tx.jobs.get(job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return JobPublic.of(job)


def list_jobs(hm: Harbourmaster, principal: Principal, *, limit: int = 50,
              state: JobState | None = None) -> list[JobPublic]:
    """The newest ``limit`` jobs (at most :data:`MAX_LISTED`), in ``state`` when given, newest first.

    Raises:
        Forbidden: ``principal`` may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.store.read() as tx:
        jobs = tx.jobs.recent(limit=max(1, min(limit, MAX_LISTED)), state=state)
    return [JobPublic.of(job) for job in jobs]


def wait_for_job(hm: Harbourmaster, principal: Principal, job_id: int, *, poll_interval: float = 0.5,
                 timeout: float | None = None,
                 on_update: Callable[[JobPublic], None] | None = None) -> JobPublic:
    """Job ``job_id`` once it has ended (succeeded or failed), read every ``poll_interval`` seconds;
    ``on_update`` sees each reading.

    Raises:
        Forbidden: ``principal`` may not read governance data.
        NotFound: there is no such job.
        JobWaitTimeout: it had not ended after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get_job(hm, principal, job_id)
        if on_update is not None:
            on_update(job)
        if job.state.terminal:
            return job
        if deadline is not None and time.monotonic() >= deadline:
            raise JobWaitTimeout(f"job {job_id} is still {job.state.value} after {timeout:g}s; "
                                 f"follow it with 'harbourmaster job show {job_id}'")
        time.sleep(poll_interval)
