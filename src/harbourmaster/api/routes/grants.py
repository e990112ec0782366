from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import (
    AccessBody,
    AccessPublic,
    ChangePublic,
    GrantBody,
    GrantPublic,
    TierPublic,
    TierUpdate,
)
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.exports import ExportFormat
from harbourmaster.domain.model import AccessEntry, RegistryGrant, Tier
from harbourmaster.services import governance, governance_reads
from harbourmaster.services.policy import PolicyPublic, show_policy
from harbourmaster.services.policy_export import PolicyExportPublic, export_policy

router = APIRouter(tags=["grants"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]


@router.get("/grants", response_model=list[GrantPublic])
def list_grants(hm: CoreDep, principal: Reader) -> list[GrantPublic]:
    return governance_reads.list_grants(hm, principal)


@router.post("/grants", response_model=ChangePublic, status_code=201)
def add_grant(body: GrantBody, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.add_grant(hm, principal, RegistryGrant(**body.model_dump()))


@router.post("/grants/delete", response_model=ChangePublic)
def remove_grant(body: GrantBody, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.remove_grant(hm, principal, RegistryGrant(**body.model_dump()))


@router.get("/access", response_model=list[AccessPublic])
def list_access(hm: CoreDep, principal: Reader) -> list[AccessPublic]:
    return governance_reads.list_access(hm, principal)


@router.post("/access", response_model=ChangePublic, status_code=201)
def add_access(body: AccessBody, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.add_access(hm, principal, AccessEntry(**body.model_dump()))


@router.post("/access/delete", response_model=ChangePublic)
def remove_access(body: AccessBody, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.remove_access(hm, principal, AccessEntry(**body.model_dump()))


@router.get("/tiers", response_model=list[TierPublic])
def list_tiers(hm: CoreDep, principal: Reader) -> list[TierPublic]:
    return governance_reads.list_tiers(hm, principal)


@router.get("/policy", response_model=PolicyPublic)
def policy(
    hm: CoreDep,
    principal: Reader,
    environment: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    tier: Tier | None = None,
) -> PolicyPublic:
    """The rules images are judged by on an environment (or a tier, for CI jobs), and their fingerprint:
    every enforcement point reports the fingerprint of the rules it enforces."""
    return show_policy(hm, principal, environment=environment, tier=tier)


@router.get("/policy/export", response_model=PolicyExportPublic)
def policy_export(
    hm: CoreDep,
    principal: Reader,
    environment: Annotated[str, Query(min_length=1, max_length=128)],
    format: ExportFormat,
) -> PolicyExportPublic:
    """A Kubernetes environment's rules as Kyverno, Gatekeeper or Cilium egress documents (as
    ``policy export`` prints them), with the fingerprint of the rules they were made from."""
    return export_policy(hm, principal, environment=environment, format=format)


@router.patch("/tiers/{tier}", response_model=ChangePublic)
def update_tier(tier: Tier, body: TierUpdate, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.update_tier(hm, principal, tier, **body.model_dump(exclude_none=True))
