"""Background jobs: follow one (its state, progress, result or error), list the recent ones, and
submit long operations, which answer ``202 Accepted`` with the job's ``Location``.

Reading jobs needs ``governance.read``; submitting one needs what the operation needs
(``sbom-generate``, ``sbom-attach``, ``scan``, ``verify``: ``registry.probe``, the registry operators).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Tier
from harbourmaster.services.job_requests import (
    JobPublic,
    get_job,
    list_jobs,
    submit_image_job,
    submit_sbom_generate,
)
from harbourmaster.store.values import JobState

__all__ = ["router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Operator = Annotated[Principal, Depends(RequirePermission(Permission.REGISTRY_PROBE))]

#: The name of the route of one job (the Location of an accepted job).
JOB_ROUTE = "job"

#: The 202 answer's header naming the job to follow.
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "The job was queued: follow it at Location",
        "headers": {
            "Location": {"description": "The job's URL (GET it for its state)", "schema": {"type": "string"}}
        },
    }
}


class SbomGenerateJobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, max_length=4096, examples=["harbor.corp/payments/api:1.4"])


def _accepted(request: Request, response: Response, job: JobPublic) -> JobPublic:
    response.headers["Location"] = str(request.app.url_path_for(JOB_ROUTE, job_id=job.id))
    return job


@router.get("", response_model=list[JobPublic])
def recent(hm: CoreDep, principal: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50,
           state: JobState | None = None) -> list[JobPublic]:
    """The most recent jobs, newest first (optionally in one state)."""
    return list_jobs(hm, principal, limit=limit, state=state)


@router.get("/{job_id}", response_model=JobPublic, name=JOB_ROUTE)
def show(hm: CoreDep, principal: Reader, job_id: Annotated[int, Path(ge=1, le=2**62)]) -> JobPublic:
    """A job: its state, progress, and its result once it succeeded or its error once it failed."""
    return get_job(hm, principal, job_id)


@router.post("/sbom-generate", response_model=JobPublic, status_code=202, responses=ACCEPTED)
def sbom_generate(body: SbomGenerateJobBody, request: Request, response: Response, hm: CoreDep,
                  principal: Operator) -> JobPublic:
    """Queue the generation of a registry image's SBOM (kept in the store when the job succeeds)."""
    return _accepted(request, response, submit_sbom_generate(hm, principal, body.image))


class ImageJobBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, max_length=4096, examples=["harbor.corp/payments/api:1.4"])


class ScanJobBody(ImageJobBody):
    #: Judge by this environment's tier (or by ``tier``, not both).
    environment: str | None = Field(default=None, min_length=1, max_length=128)
    tier: Tier | None = None


class VerifyJobBody(ImageJobBody):
    environment: str = Field(min_length=1, max_length=128, examples=["prod-eu"])


@router.post("/sbom-attach", response_model=JobPublic, status_code=202, responses=ACCEPTED)
def sbom_attach(body: ImageJobBody, request: Request, response: Response, hm: CoreDep,
                principal: Operator) -> JobPublic:
    """Queue attaching a registry image's SBOM to it (generated first when none is stored)."""
    return _accepted(request, response, submit_image_job(hm, principal, "sbom.attach", body.image))


@router.post("/scan", response_model=JobPublic, status_code=202, responses=ACCEPTED)
def scan(
    body: ScanJobBody, request: Request, response: Response, hm: CoreDep, principal: Operator
) -> JobPublic:
    """Queue a scan of a registry image (its SBOM generated when none is stored), kept for its digest."""
    job = submit_image_job(hm, principal, "image.scan", body.image, environment=body.environment,
                           tier=body.tier.value if body.tier is not None else None)
    return _accepted(request, response, job)


@router.post("/verify", response_model=JobPublic, status_code=202, responses=ACCEPTED)
def verify(body: VerifyJobBody, request: Request, response: Response, hm: CoreDep,
           principal: Operator) -> JobPublic:
    """Queue the verification of a registry image's signatures against an environment's signers."""
    job = submit_image_job(hm, principal, "image.verify", body.image, environment=body.environment)
    return _accepted(request, response, job)
