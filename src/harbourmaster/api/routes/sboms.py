"""SBOMs: generate, attach and fetch for registry images; the SBOM store.

The registry operations use the image's approved registry and its stored
credential, so they need ``registry.probe`` (administrators and platform
engineers); reading the store needs ``governance.read``.  The answers are
what ``sbom ... --json`` prints, plus the document for generate and fetch.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.problems import REGISTRY_PROBLEMS
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.services.sbom_ops import (
    attach_image_sbom,
    fetch_image_sbom,
    generate_image_sbom,
    stored_sbom_document,
    stored_sboms,
)
from harbourmaster.services.supply_results import SbomOutcomePublic, StoredSbomPublic
from harbourmaster.supply.sbom import SbomFormat, parse_platform

__all__ = ["router"]

router = APIRouter(prefix="/sboms", tags=["sboms"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Operator = Annotated[Principal, Depends(RequirePermission(Permission.REGISTRY_PROBE))]


class SbomImageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, max_length=4096, examples=["harbor.corp/payments/api:1.4"])
    format: SbomFormat = SbomFormat.CYCLONEDX_JSON
    platform: str = Field(default="linux/amd64", min_length=3, max_length=100)


class SbomAttachBody(SbomImageBody):
    environments: list[str] = Field(default_factory=list, max_length=100)
    regenerate: bool = False








@router.get("", response_model=list[StoredSbomPublic])
def list_stored(hm: CoreDep, principal: Reader,
                digest: Annotated[str | None, Query(max_length=200)] = None) -> list[StoredSbomPublic]:
    """The SBOM store, newest first (optionally for one image digest)."""
    return stored_sboms(hm, principal, image_digest=digest)


@router.get(
    "/document",
    response_class=Response,
    responses={
        200: {
            "description": "The SBOM document as stored (CycloneDX or SPDX JSON)",
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    },
)
def document(hm: CoreDep, principal: Reader, digest: Annotated[str, Query(min_length=1, max_length=200)],
             format: SbomFormat | None = None) -> Response:
    """The newest stored SBOM document for an image digest, as stored."""
    _, text = stored_sbom_document(hm, principal, image_digest=digest, fmt=format)
    return Response(content=text, media_type="application/json")


@router.post("/generate", response_model=SbomOutcomePublic, responses=REGISTRY_PROBLEMS)
def generate(body: SbomImageBody, hm: CoreDep, principal: Operator) -> SbomOutcomePublic:
    """Generate the SBOM of a registry image and keep it in the store."""
    return generate_image_sbom(hm, principal, body.image, fmt=body.format,
                               platform=parse_platform(body.platform))


@router.post("/attach", response_model=SbomOutcomePublic, responses=REGISTRY_PROBLEMS)
def attach(body: SbomAttachBody, hm: CoreDep, principal: Operator) -> SbomOutcomePublic:
    """Attach the image's SBOM (generated first if the store has none) as an OCI artifact."""
    return attach_image_sbom(hm, principal, body.image, fmt=body.format,
                             platform=parse_platform(body.platform), environments=body.environments,
                             regenerate=body.regenerate, with_document=False)


@router.post("/fetch", response_model=SbomOutcomePublic, responses=REGISTRY_PROBLEMS)
def fetch(body: SbomImageBody, hm: CoreDep, principal: Operator) -> SbomOutcomePublic:
    """Fetch the SBOM attached to an image (checked), keep it in the store and return it."""
    return fetch_image_sbom(hm, principal, body.image, fmt=body.format,
                            platform=parse_platform(body.platform))
