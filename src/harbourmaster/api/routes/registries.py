from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.problems import REGISTRY_PROBLEMS
from harbourmaster.api.schemas import (
    BrowsePublic,
    ChangePublic,
    HideAnonymousBody,
    ProbeReportPublic,
    RegistryCreate,
    RegistryPublic,
    RegistryUpdate,
)
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.secret import Secret
from harbourmaster.services import (
    governance,
    governance_reads,
    harbor_sync,
    registry_browse,
    registry_probe,
    robot_rotation,
)
from harbourmaster.services.harbor_sync import HarborSyncPublic
from harbourmaster.services.robot_rotation import RotationPublic

router = APIRouter(prefix="/registries", tags=["registries"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]
Prober = Annotated[Principal, Depends(RequirePermission(Permission.REGISTRY_PROBE))]
#: A registry to probe or browse (the example names the example model's development registry).
ProbedName = Annotated[str, Path(examples=["dev-local"])]


def _split(body: RegistryCreate | RegistryUpdate) -> tuple[dict[str, Any], Secret | None, Secret | None]:
    """Separate the secrets from the other fields; secrets go to the vault only."""
    fields = body.model_dump(exclude_unset=True, exclude={"credential": {"secret"}, "tls": {"client_key"}})
    secret = body.credential.secret if body.credential is not None else None
    key = body.tls.client_key if body.tls is not None else None
    return (
        fields,
        Secret(secret.get_secret_value()) if secret is not None else None,
        Secret(key.get_secret_value()) if key is not None else None,
    )


@router.get("", response_model=list[RegistryPublic])
def list_registries(hm: CoreDep, principal: Reader) -> list[RegistryPublic]:
    return governance_reads.list_registries(hm, principal)


@router.get("/{name}", response_model=RegistryPublic)
def get_registry(name: str, hm: CoreDep, principal: Reader) -> RegistryPublic:
    return governance_reads.registry(hm, principal, name)


@router.post("", response_model=RegistryPublic, status_code=201)
def create_registry(body: RegistryCreate, hm: CoreDep, principal: Writer) -> RegistryPublic:
    fields, secret, key = _split(body)
    reg = governance.put_registry(
        hm, principal, name=body.name, fields=fields, create=True, secret=secret, client_key=key
    )
    return governance_reads.registry(hm, principal, reg.name)


@router.patch("/{name}", response_model=RegistryPublic)
def update_registry(name: str, body: RegistryUpdate, hm: CoreDep, principal: Writer) -> RegistryPublic:
    fields, secret, key = _split(body)
    reg = governance.put_registry(
        hm, principal, name=name, fields=fields, create=False, secret=secret, client_key=key
    )
    return governance_reads.registry(hm, principal, reg.name)


@router.delete("/{name}", response_model=ChangePublic)
def delete_registry(name: str, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.delete_registry(hm, principal, name)


@router.put("/dockerhub-anonymous/visibility", response_model=ChangePublic)
def hide_anonymous(body: HideAnonymousBody, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.set_hide_anonymous(hm, principal, hidden=body.hidden, environment=body.environment)


@router.post("/{name}/test", response_model=ProbeReportPublic)
def test_registry(
    name: ProbedName,
    hm: CoreDep,
    principal: Prober,
    repository: Annotated[str | None, Query(max_length=512)] = None,
) -> ProbeReportPublic:
    """Probe the registry with its stored credential; failures are in the report (200)."""
    return registry_probe.test_registry(hm, principal, name, repository=repository)


@router.get("/{name}/browse", response_model=BrowsePublic, responses=REGISTRY_PROBLEMS)
def browse_registry(
    name: ProbedName,
    hm: CoreDep,
    principal: Prober,
    repository: Annotated[str | None, Query(max_length=512)] = None,
    reference: Annotated[str | None, Query(max_length=256)] = None,
) -> BrowsePublic:
    """Repositories (no ``repository``), tags (no ``reference``), or an image summary."""
    return registry_browse.browse(hm, principal, name, repository or None, reference or None)


@router.post("/{name}/harbor-sync", response_model=HarborSyncPublic, responses=REGISTRY_PROBLEMS)
def sync_harbor(
    name: Annotated[str, Path(examples=["harbor-payments"])],
    hm: CoreDep,
    principal: Writer,
    dry_run: Annotated[bool, Query()] = False,
) -> HarborSyncPublic:
    """A managed Harbor's project, security settings and robots made to match the model (``dry_run``:
    only the actions it would take)."""
    return harbor_sync.harbor_sync(hm, principal, name, dry_run=dry_run)


@router.post("/{name}/rotate", response_model=RotationPublic, responses=REGISTRY_PROBLEMS)
def rotate_robots(
    name: Annotated[str, Path(examples=["harbor-payments"])],
    hm: CoreDep,
    principal: Writer,
    robot: Annotated[str | None, Query(max_length=64)] = None,
    refresh: Annotated[bool, Query()] = False,
) -> RotationPublic:
    """Rotate a managed Harbor's robot accounts; a robot Harbor refused is ``failed`` with its reason (the
    old secret is kept)."""
    return robot_rotation.rotate_credential(hm, principal, name, robot=robot, refresh=refresh)
