"""Decisions, declarative apply/export, audit, credentials and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, StreamingResponse

from harbourmaster.api.deps import CoreDep, CurrentPrincipal, RequirePermission
from harbourmaster.api.schemas import (
    ApplyBody,
    ApplyPublic,
    AuditVerifyPublic,
    CheckBody,
    DecisionPublic,
    ResolvedImagePublic,
    TokenCreate,
    TokenPublic,
)
from harbourmaster.domain.audit import to_json_line
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.errors import BadInput
from harbourmaster.services.apply import apply_document
from harbourmaster.services.audit import iter_audit, verify_audit
from harbourmaster.services.credentials import expiring_credentials, parse_duration
from harbourmaster.services.decisions import check_content, check_images
from harbourmaster.services.export import export_yaml
from harbourmaster.services.registry_access import resolve_image
from harbourmaster.services.tokens import create_token

router = APIRouter(tags=["operations"])

Checker = Annotated[Principal, Depends(RequirePermission(Permission.DECISION_CHECK))]
Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]
Auditor = Annotated[Principal, Depends(RequirePermission(Permission.AUDIT_READ))]
TokenAdmin = Annotated[Principal, Depends(RequirePermission(Permission.TOKEN_CREATE))]


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


@router.get("/resolve", response_model=ResolvedImagePublic)
def resolve(
    hm: CoreDep,
    principal: Checker,
    image: Annotated[str, Query(min_length=1, max_length=4096)],
    environment: Annotated[str, Query(min_length=1)],
    namespace: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """The digest ``image`` points to now, using the credentials granted on ``environment``."""
    return resolve_image(
        hm, principal, image, environment=environment, namespace=namespace, user=user
    ).as_dict()


@router.post("/apply", response_model=ApplyPublic)
def apply(body: ApplyBody, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    result = apply_document(
        hm, body.document, source="request", actor=principal.name, dry_run=body.dry_run, prune=body.prune
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
    with hm.db.read() as session:
        v = verify_audit(session)
    return {"ok": v.ok, "count": v.count, "first_bad_seq": v.first_bad_seq, "problem": v.problem}


@router.get("/audit/export")
def audit_export(hm: CoreDep, _p: Auditor, since: Annotated[int, Query(ge=0)] = 0) -> StreamingResponse:
    def lines() -> Iterator[str]:
        with hm.db.read() as session:
            for entry in iter_audit(session):
                if entry.seq > since:
                    yield to_json_line(entry) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/credentials/expiring")
def credentials_expiring(hm: CoreDep, _p: Reader, within: str = "14d") -> list[dict[str, Any]]:
    return [c.as_dict() for c in expiring_credentials(hm, within=parse_duration(within, field="within"))]


@router.post("/tokens", response_model=TokenPublic, status_code=201)
def tokens(body: TokenCreate, hm: CoreDep, principal: TokenAdmin) -> dict[str, Any]:
    import datetime as dt

    lifetime = dt.timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = create_token(hm, user=body.user, name=body.name, actor=principal.name, lifetime=lifetime)
    return {
        "user": issued.user,
        "name": issued.name,
        "token": issued.token.reveal(),
        "expires_at": issued.expires_at,
    }


__all__ = ["CurrentPrincipal", "router"]
