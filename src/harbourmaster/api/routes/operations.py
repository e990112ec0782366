"""Decisions, declarative apply/export, audit and credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, StreamingResponse

from harbourmaster.api.deps import CoreDep, CurrentPrincipal, RequirePermission
from harbourmaster.api.problems import REGISTRY_PROBLEMS, problem_responses
from harbourmaster.api.schemas import (
    ApplyBody,
    ApplyPublic,
    AuditVerifyPublic,
    CheckBody,
    CheckpointKeyPublic,
    CheckpointPublic,
    DecisionPublic,
    ExpiringCredentialPublic,
    ResolvedImagePublic,
)
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.services import audit_log
from harbourmaster.services.apply import apply_document
from harbourmaster.services.credentials import expiring_credentials, parse_duration
from harbourmaster.services.decisions import check_deployment
from harbourmaster.services.export import export_model
from harbourmaster.services.registry_resolve import resolve_image

router = APIRouter(tags=["operations"])

Checker = Annotated[Principal, Depends(RequirePermission(Permission.DECISION_CHECK))]
Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]
Auditor = Annotated[Principal, Depends(RequirePermission(Permission.AUDIT_READ))]


@router.post("/decisions", response_model=list[DecisionPublic])
def decide(body: CheckBody, hm: CoreDep, principal: Checker) -> list[DecisionPublic]:
    """Decide images, or every image in deployment content, for an environment and tenant."""
    return check_deployment(
        hm,
        principal,
        environment=body.environment,
        images=body.images,
        content=body.content,
        source="request",
        namespace=body.namespace,
        user=body.user,
        resolve=body.resolve,
        source_only=body.source_only,
    ).decisions


@router.get("/resolve", response_model=ResolvedImagePublic, responses=REGISTRY_PROBLEMS)
def resolve(
    hm: CoreDep,
    principal: Checker,
    image: Annotated[str, Query(min_length=1, max_length=4096, examples=["harbor.corp/payments/api:1.4"])],
    environment: Annotated[str, Query(min_length=1, examples=["prod-eu"])],
    namespace: Annotated[str | None, Query(examples=["payments"])] = None,
    user: str | None = None,
) -> ResolvedImagePublic:
    """The digest ``image`` points to now, using the credentials granted on ``environment``."""
    return resolve_image(hm, principal, image, environment=environment, namespace=namespace, user=user)


@router.post("/apply", response_model=ApplyPublic)
def apply(body: ApplyBody, hm: CoreDep, principal: Writer) -> ApplyPublic:
    # No host files: references and PEM paths in a document sent over the API are refused.
    return apply_document(
        hm, principal, body.document, source="request", dry_run=body.dry_run, prune=body.prune
    )


@router.get(
    "/export",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The model as governance YAML, without secrets",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def export(hm: CoreDep, principal: Reader) -> str:
    return export_model(hm, principal)


@router.get("/audit/verify", response_model=AuditVerifyPublic)
def audit_verify(hm: CoreDep, principal: Auditor) -> AuditVerifyPublic:
    """The hash chain, and the server's checkpoint file (when it exists) against it."""
    return audit_log.verify(hm, principal)


@router.get(
    "/audit/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One JSON audit record per line, then the checkpoint line",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
)
def audit_export(
    hm: CoreDep,
    principal: Auditor,
    since: Annotated[int, Query(ge=0)] = 0,
    checkpoint: bool = True,
) -> StreamingResponse:
    """Records above ``since`` as JSON lines, ending with a signed checkpoint line
    (``"type": "audit.checkpoint"``) of the last record exported, unless ``checkpoint=false``."""
    return StreamingResponse(
        audit_log.export_lines(hm, principal, since=since, checkpoint=checkpoint, chunk_bytes=64 * 1024),
        media_type="application/x-ndjson",
    )


@router.post("/audit/checkpoints", response_model=CheckpointPublic, status_code=201)
def audit_checkpoint(hm: CoreDep, principal: Auditor) -> CheckpointPublic:
    """Sign the chain's newest record now; the checkpoint is also appended to the server's checkpoint
    file and syslog.  409 when the chain is broken or no longer extends the last checkpoint."""
    return audit_log.checkpoint(hm, principal)


@router.get("/audit/public-key", response_model=CheckpointKeyPublic, responses=problem_responses(409))
def audit_public_key(hm: CoreDep, principal: Auditor) -> CheckpointKeyPublic:
    """The Ed25519 public key that checks checkpoints (made on first need)."""
    return audit_log.public_key(hm, principal)


@router.get("/credentials/expiring", response_model=list[ExpiringCredentialPublic])
def credentials_expiring(
    hm: CoreDep, principal: Reader, within: Annotated[str, Query(min_length=1, max_length=64)] = "14d"
) -> list[ExpiringCredentialPublic]:
    """Credentials that expire within ``within`` (14d, 2w, 36h; at most 100 years), or already have."""
    return expiring_credentials(hm, principal, within=parse_duration(within, field="within"))


__all__ = ["CurrentPrincipal", "router"]
