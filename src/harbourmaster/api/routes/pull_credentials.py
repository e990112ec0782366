"""Pull credentials for the kubelet credential provider: a node token asks for one pull's credential."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import PullCredentialCreate, PullCredentialPublic
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.secret import Secret
from harbourmaster.services.pull_credentials import issue_pull_credential

__all__ = ["router"]

router = APIRouter(prefix="/environments", tags=["pull-credentials"])

Node = Annotated[Principal, Depends(RequirePermission(Permission.PULL_CREDENTIALS))]


@router.post("/{environment}/pull-credentials", response_model=PullCredentialPublic)
def issue(
    environment: Annotated[str, Path(min_length=1, max_length=128)],
    body: PullCredentialCreate,
    hm: CoreDep,
    principal: Node,
) -> PullCredentialPublic:
    """The registry credential for pulling ``image`` into the pod whose service-account token is
    given: only when the verdict allows the image in the token's namespace.  Node tokens of
    ``environment`` only.  404 ``no-credential-needed``: the registry is pulled anonymously."""
    credential = issue_pull_credential(
        hm,
        principal,
        environment=environment,
        image=body.image,
        service_account_token=Secret(body.service_account_token),
    )
    return PullCredentialPublic(
        username=credential.username,
        password=credential.password.reveal(),
        expires_in=credential.expires_in,
    )
