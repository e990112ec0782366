"""Decisions, declarative apply/export, audit and credentials."""

from __future__ import annotations

from typing import Annotated, Any

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
from harbourmaster.errors import BadInput
from harbourmaster.services.apply import apply_document
from harbourmaster.services.audit_checkpoints import (
    audit_export_lines,
    checkpoint_public_key,
    emit_checkpoint,
    verify_audit_log,
)
from harbourmaster.services.credentials import expiring_credentials, parse_duration
from harbourmaster.services.decisions import check_content, check_images
from harbourmaster.services.export import export_yaml
from harbourmaster.services.registry_access import resolve_image

router = APIRouter(tags=["operations"])

Checker = Annotated[Principal, Depends(RequirePermission(Permission.DECISION_CHECK))]
Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]
Auditor = Annotated[Principal, Depends(RequirePermission(Permission.AUDIT_READ))]


@router.post("/decisions", response_model=list[DecisionPublic])
def decide(body: CheckBody, hm: CoreDep, principal: Checker) -> list[dict[str, Any]]:
    """Decide images, or every image in deployment content, for an environment and tenant."""
    if (body.images is None) == (body.content is None):
        raise BadInput("give either images or content")
    if body.content is not None:
        results, _ = check_content(
            hm,
            principal,
            environment=body.environment,
            text=body.content,
            source="request",
            namespace=body.namespace,
            user=body.user,
            resolve=body.resolve,
        )
        return [r.as_dict() for r in results]
    assert body.images is not None
    decisions = check_images(
        hm,
        principal,
        environment=body.environment,
        images=body.images,
        namespace=body.namespace,
        user=body.user,
        resolve=body.resolve,
    )
    return [d.as_dict() for d in decisions]


@router.get("/resolve", response_model=ResolvedImagePublic, responses=REGISTRY_PROBLEMS)
def resolve(
    hm: CoreDep,
    principal: Checker,
    image: Annotated[str, Query(min_length=1, max_length=4096, examples=["harbor.corp/payments/api:1.4"])],
    environment: Annotated[str, Query(min_length=1, examples=["prod-eu"])],
    namespace: Annotated[str | None, Query(examples=["payments"])] = None,
    user: str | None = None,
) -> dict[str, Any]:
    """The digest ``image`` points to now, using the credentials granted on ``environment``."""
    return resolve_image(
        hm, principal, image, environment=environment, namespace=namespace, user=user
    ).as_dict()


@router.post("/apply", response_model=ApplyPublic)
def apply(body: ApplyBody, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    # No host files: references and PEM paths in a document sent over the API are refused.
    result = apply_document(
        hm, principal, body.document, source="request", dry_run=body.dry_run, prune=body.prune
    )
    return {
        "changes": list(result.changes),
        "applied": result.applied,
        "dry_run": result.dry_run,
        "revision": result.revision,
    }


@router.get("/export", response_class=PlainTextResponse)
def export(hm: CoreDep, _p: Reader) -> str:
    return export_yaml(hm.state())


@router.get("/audit/verify", response_model=AuditVerifyPublic)
def audit_verify(hm: CoreDep, _p: Auditor) -> dict[str, Any]:
    """The hash chain, and the server's checkpoint file (when it exists) against it."""
    return verify_audit_log(hm).as_dict()


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
        audit_export_lines(hm, since=since, checkpoint=checkpoint, actor=principal.name),
        media_type="application/x-ndjson",
    )


@router.post("/audit/checkpoints", response_model=CheckpointPublic, status_code=201)
def audit_checkpoint(hm: CoreDep, principal: Auditor) -> dict[str, Any]:
    """Sign the chain's newest record now; the checkpoint is also appended to the server's checkpoint
    file and syslog.  409 when the chain is broken or no longer extends the last checkpoint."""
    emitted = emit_checkpoint(hm, actor=principal.name)
    return emitted.as_dict()


@router.get("/audit/public-key", response_model=CheckpointKeyPublic, responses=problem_responses(409))
def audit_public_key(hm: CoreDep, _p: Auditor) -> dict[str, Any]:
    """The Ed25519 public key that checks checkpoints (made on first need)."""
    key = checkpoint_public_key(hm)
    return {"key_id": key.key_id, "algorithm": "ed25519", "pem": key.pem()}


@router.get("/credentials/expiring", response_model=list[ExpiringCredentialPublic])
def credentials_expiring(
    hm: CoreDep, _p: Reader, within: Annotated[str, Query(min_length=1, max_length=64)] = "14d"
) -> list[dict[str, Any]]:
    """Credentials that expire within ``within`` (14d, 2w, 36h; at most 100 years), or already have."""
    return [c.as_dict() for c in expiring_credentials(hm, within=parse_duration(within, field="within"))]


__all__ = ["CurrentPrincipal", "router"]
