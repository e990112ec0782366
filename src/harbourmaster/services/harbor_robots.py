"""Robot accounts on a managed Harbor: issue one, replace it by its next generation, refresh its secret in
place, retire the generations a replacement left behind.  The secret goes from Harbor's answer straight
into the vault; nothing here returns or logs it.

Shared by ``harbor sync`` (:mod:`harbourmaster.services.harbor_sync`) and rotation
(:mod:`harbourmaster.services.robot_rotation`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import replace

from harbourmaster.domain.harbor import harbor_project
from harbourmaster.domain.harbor_management import RobotSpec
from harbourmaster.domain.model import Registry
from harbourmaster.errors import BadInput
from harbourmaster.registry.harbor_api import HarborApi, HarborNotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import open_registry_secret, seal_robot_secret
from harbourmaster.services.registry_endpoints import endpoint_for
from harbourmaster.services.registry_scope import named_registry
from harbourmaster.store.robot_interface import ManagedRobot

__all__ = [
    "admin_api",
    "grace_seconds",
    "issue_robot",
    "managed_registry",
    "refresh_robot",
    "retire_robot",
]


def managed_registry(hm: Harbourmaster, name: str) -> Registry:
    """The managed Harbor registry ``name``.

    Raises:
        NotFound: no such registry.  BadInput: it is not a managed Harbor (``manage: true``).
    """
    reg = named_registry(hm, name)
    if reg.management is None or harbor_project(reg) is None:
        raise BadInput(
            f"registry {name} is not a managed Harbor; give it provider: harbor, a scope and manage: true"
        )
    return reg


def admin_api(hm: Harbourmaster, reg: Registry, *, actor: str, purpose: str) -> HarborApi:
    """A client of ``reg``'s Harbor API with its administrator credential opened from the vault (audited).

    Raises:
        BadInput: no credential is stored.  VaultError: it cannot be opened for the registry's origin.
        InsecureTransportRefused: plain HTTP or skipped verification beyond development.
    """
    cred = reg.credential
    endpoint, development_only = endpoint_for(hm, reg, actor=actor, purpose=purpose)
    with hm.store.transaction() as tx:
        blob = tx.governance.sealed_blobs(reg.name).credential
        if cred is None or blob is None:
            raise BadInput(f"registry {reg.name} has no administrator credential for Harbor's API")
        password = open_registry_secret(hm, reg, blob, field="credential")
        tx.audit.append(
            actor=actor,
            action="credential.use",
            target=reg.name,
            details={"purpose": purpose, "username": cred.username},
        )
    return hm.registry_clients.harbor_api(
        endpoint, username=cred.username, password=password, development_only=development_only
    )


def grace_seconds(hm: Harbourmaster) -> int:
    """How long a replaced robot keeps working: long enough for every pull that already holds its secret
    (a just-in-time pull credential, a deployment in progress) to finish."""
    s = hm.settings
    return int(s.robot_grace_seconds or max(s.pull_credential_seconds, s.deploy_timeout_seconds) + 60)


def _expiry(issued: dt.datetime, lifetime_days: int | None, harbor_expires_at: int) -> dt.datetime | None:
    if harbor_expires_at > 0:
        return dt.datetime.fromtimestamp(harbor_expires_at, dt.UTC)
    return None if lifetime_days is None else issued + dt.timedelta(days=lifetime_days)


async def issue_robot(
    hm: Harbourmaster, api: HarborApi, reg: Registry, spec: RobotSpec, *, generation: int, actor: str
) -> ManagedRobot:
    """Create generation ``generation`` of robot ``spec`` on ``reg``'s project and store it, sealed.

    Raises:
        HarborApiError: Harbor refused or failed (nothing was stored).
    """
    project = harbor_project(reg)
    assert project is not None
    now = hm.clock.now()
    created = await api.create_robot(
        f"{spec.name}-{generation}",
        projects=[project],
        actions=spec.access.actions,  # type: ignore[arg-type]
        duration_days=spec.lifetime_days if spec.lifetime_days is not None else -1,
        description=spec.description or f"harbourmaster: {spec.name}",
    )
    robot = ManagedRobot(
        registry=reg.name,
        name=spec.name,
        generation=generation,
        access=spec.access.value,
        harbor_id=created.robot_id,
        harbor_name=created.name,
        project=project,
        issued_at=now,
        expires_at=_expiry(now, spec.lifetime_days, created.expires_at),
        sealed=seal_robot_secret(hm, reg, spec.name, generation, created.secret),
    )
    with hm.store.transaction() as tx:
        stored = tx.robots.add(robot)
        tx.audit.append(
            actor=actor,
            action="robot.create",
            target=reg.name,
            details={
                "robot": created.name,
                "access": spec.access.value,
                "project": project,
                "expires": robot.expires_at.isoformat() if robot.expires_at else "never",
            },
        )
    return stored


async def refresh_robot(
    hm: Harbourmaster, api: HarborApi, reg: Registry, robot: ManagedRobot, *, actor: str
) -> ManagedRobot:
    """Have Harbor generate a new secret for ``robot`` and store it in place of the old one.

    The old secret stops working at once (Harbor's refresh); the expiry does not move.

    Raises:
        HarborApiError: Harbor refused or failed (the old secret is kept and still works).
    """
    secret = await api.refresh_robot_secret(robot.harbor_id)
    updated = replace(
        robot,
        sealed=seal_robot_secret(hm, reg, robot.name, robot.generation, secret),
        issued_at=hm.clock.now(),
        last_error=None,
        last_error_at=None,
    )
    with hm.store.transaction() as tx:
        tx.robots.update(updated)
        tx.audit.append(
            actor=actor, action="robot.refresh", target=reg.name, details={"robot": robot.harbor_name}
        )
    return updated


async def retire_robot(
    hm: Harbourmaster,
    api: HarborApi,
    reg: Registry,
    robot: ManagedRobot,
    *,
    actor: str,
    action: str = "robot.retire",
) -> None:
    """Delete ``robot`` from Harbor (already gone is fine) and forget it.

    Raises:
        HarborApiError: Harbor refused or failed (it stays stored, to be retried).
    """
    with contextlib.suppress(HarborNotFound):
        await api.delete_robot(robot.harbor_id)
    with hm.store.transaction() as tx:
        tx.robots.remove(robot.id)
        tx.audit.append(actor=actor, action=action, target=reg.name, details={"robot": robot.harbor_name})
