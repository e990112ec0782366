"""``harbor sync``: make a managed Harbor's project and robot accounts what the governance model says.

For a registry with ``provider: harbor`` and ``manage: true`` it compares, through Harbor's v2.0 API:

* the project ``scope`` names: created when missing;
* the project's security settings with :func:`harbourmaster.domain.harbor.project_settings` (the
  strictest tier the registry is granted to, and its allowlist entries): changed when they drifted;
* the robot accounts (harbourmaster's pull and push robots, the document's CI robots): created when
  missing, replaced when deleted, disabled or with other permissions in Harbor, deleted when the
  document no longer names them; generations a rotation replaced are deleted once their grace ended.

``--dry-run`` reports the same actions and changes nothing.  Applied twice, the second run finds nothing
to do.  The whole run is one audit record (``harbor.sync``) beside the records of each robot change.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.harbor import (
    ProjectSettings,
    SettingChange,
    desired_robots,
    harbor_project,
    project_settings,
    settings_changes,
)
from harbourmaster.domain.harbor_management import RobotSpec
from harbourmaster.domain.model import Registry
from harbourmaster.domain.state import GovernanceState
from harbourmaster.registry.harbor_api import (
    CveAllowlist,
    HarborApi,
    HarborApiError,
    HarborNotFound,
    HarborProject,
)
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import open_robot_secret
from harbourmaster.services.harbor_robots import admin_api, issue_robot, managed_registry, retire_robot
from harbourmaster.services.registry_endpoints import run_sync
from harbourmaster.store.robot_interface import ManagedRobot
from harbourmaster.vault.interface import VaultError

__all__ = [
    "HarborActionPublic",
    "HarborSyncPublic",
    "SettingChangePublic",
    "harbor_sync",
    "project_drift",
    "wanted_settings",
]


class SettingChangePublic(BaseModel):
    setting: str
    current: str | None
    wanted: str


class HarborActionPublic(BaseModel):
    """One thing sync does (or, dry, would do): ``action`` on ``target``, why, and the settings it changes."""

    action: str
    target: str
    reason: str
    changes: list[SettingChangePublic] = []


class HarborSyncPublic(BaseModel):
    """``harbor sync``: the registry, its project, the actions (taken unless ``dry_run``)."""

    registry: str
    project: str
    dry_run: bool
    tiers: list[str]
    actions: list[HarborActionPublic]

    @property
    def in_sync(self) -> bool:
        return not self.actions


def wanted_settings(hm: Harbourmaster, state: GovernanceState, reg: Registry) -> ProjectSettings:
    """The settings ``reg``'s Harbor project must have under the current model."""
    return project_settings(
        reg,
        grants=state.grants,
        environment_tiers={e.name: e.tier for e in state.environments},
        tiers=state.tiers,
        allowlist=state.allowlist,
        today=hm.clock.today(),
    )


def project_drift(wanted: ProjectSettings, project: HarborProject) -> list[SettingChange]:
    """How Harbor's project differs from ``wanted`` (empty: in line)."""
    return settings_changes(
        wanted, project.metadata, project.cve_allowlist.cve_ids, project.cve_allowlist.expires_at
    )


def _changes(changes: list[SettingChange]) -> list[SettingChangePublic]:
    return [SettingChangePublic(setting=c.setting, current=c.current, wanted=c.wanted) for c in changes]


@dataclass
class _Robots:
    create: list[tuple[RobotSpec, int, str]]
    replace: list[tuple[RobotSpec, ManagedRobot, str]]
    delete: list[ManagedRobot]
    retire: list[ManagedRobot]


async def _robot_plan(hm: Harbourmaster, api: HarborApi, reg: Registry, project: str) -> _Robots:
    assert reg.management is not None
    with hm.store.read() as tx:
        stored = tx.robots.robots(reg.name)
    now = hm.clock.now()
    plan = _Robots([], [], [], [])
    wanted = desired_robots(reg.management)
    names = {spec.name for spec in wanted}
    for spec in wanted:
        mine = [r for r in stored if r.name == spec.name]
        current = max((r for r in mine if r.retire_after is None), key=lambda r: r.generation, default=None)
        generation = max((r.generation for r in mine), default=0) + 1
        if current is None:
            plan.create.append((spec, generation, "missing"))
            continue
        if not _opens(hm, reg, current):
            plan.replace.append((spec, current, "its stored secret no longer opens (the registry moved)"))
            continue
        try:
            robot = await api.robot(current.harbor_id)
        except HarborNotFound:
            plan.replace.append((spec, current, "deleted in Harbor"))
            continue
        expected = {(project, a) for a in spec.access.actions}
        if robot.disabled:
            plan.replace.append((spec, current, "disabled in Harbor"))
        elif set(robot.access) != expected:
            got = ", ".join(f"{p}:{a}" for p, a in sorted(set(robot.access))) or "none"
            plan.replace.append((spec, current, f"permissions drifted in Harbor ({got})"))
        elif (current.expires_at is None) != (spec.lifetime_days is None):
            plan.replace.append((spec, current, "lifetime changed in the governance model"))
    for r in stored:
        if r.name not in names:
            plan.delete.append(r)
        elif r.retire_after is not None and r.retire_after <= now:
            plan.retire.append(r)
    return plan


def _opens(hm: Harbourmaster, reg: Registry, robot: ManagedRobot) -> bool:
    """Whether the robot's sealed secret opens for the registry's origin as it is now."""
    try:
        open_robot_secret(hm, reg, robot)
    except VaultError:
        return False
    return True


def harbor_sync(
    hm: Harbourmaster, principal: Principal, registry: str, *, dry_run: bool = False
) -> HarborSyncPublic:
    """Bring ``registry``'s Harbor project and robots in line with the model; ``dry_run``: only report.

    Raises:
        Forbidden: the principal may not change the governance model.
        NotFound / BadInput: no such registry / not a managed Harbor.
        HarborApiError: Harbor refused or failed (what was done before it stays done and audited).
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    reg = managed_registry(hm, registry)
    project = harbor_project(reg)
    assert project is not None
    wanted = wanted_settings(hm, hm.state(), reg)
    api = admin_api(hm, reg, actor=principal.name, purpose="harbor.sync")

    async def run() -> list[HarborActionPublic]:
        async with api:
            return await _sync(hm, api, reg, project, wanted, actor=principal.name, dry_run=dry_run)

    try:
        actions = run_sync(run())
    except HarborApiError as exc:
        with hm.store.transaction() as tx:
            tx.audit.append(
                actor=principal.name,
                action="harbor.sync",
                target=reg.name,
                result="failed",
                details={"project": project, "dry_run": dry_run, "reason": exc.message},
            )
        raise
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.name,
            action="harbor.sync",
            target=reg.name,
            details={
                "project": project,
                "dry_run": dry_run,
                "actions": [f"{a.action} {a.target}" for a in actions],
            },
        )
    return HarborSyncPublic(
        registry=reg.name,
        project=project,
        dry_run=dry_run,
        tiers=[t.value for t in wanted.tiers],
        actions=actions,
    )


async def _sync(
    hm: Harbourmaster,
    api: HarborApi,
    reg: Registry,
    project: str,
    wanted: ProjectSettings,
    *,
    actor: str,
    dry_run: bool,
) -> list[HarborActionPublic]:
    actions: list[HarborActionPublic] = []
    allowlist = CveAllowlist(cve_ids=wanted.allowlist, expires_at=wanted.allowlist_expires)
    try:
        current: HarborProject | None = await api.project(project)
    except HarborNotFound:
        current = None
    if current is None:
        every = settings_changes(wanted, {}, (), None)
        actions.append(
            HarborActionPublic(
                action="create-project", target=project, reason="missing", changes=_changes(every)
            )
        )
        if not dry_run:
            await api.create_project(project, wanted.metadata(), cve_allowlist=allowlist)
    else:
        drift = project_drift(wanted, current)
        if drift:
            actions.append(
                HarborActionPublic(
                    action="update-project",
                    target=project,
                    reason="settings drifted",
                    changes=_changes(drift),
                )
            )
            if not dry_run:
                await api.update_project(project, metadata=wanted.metadata(), cve_allowlist=allowlist)
    if current is None and dry_run:
        # No project yet: every robot is to be created.
        assert reg.management is not None
        with hm.store.read() as tx:
            stored = tx.robots.robots(reg.name)
        plan = _Robots(
            [
                (s, max((r.generation for r in stored if r.name == s.name), default=0) + 1, "missing")
                for s in desired_robots(reg.management)
            ],
            [],
            [],
            [],
        )
    else:
        plan = await _robot_plan(hm, api, reg, project)
    for spec, generation, reason in plan.create:
        actions.append(HarborActionPublic(action="create-robot", target=spec.name, reason=reason))
        if not dry_run:
            await issue_robot(hm, api, reg, spec, generation=generation, actor=actor)
    for spec, old, reason in plan.replace:
        actions.append(HarborActionPublic(action="replace-robot", target=old.harbor_name, reason=reason))
        if not dry_run:
            await issue_robot(hm, api, reg, spec, generation=_next(hm, reg, spec.name), actor=actor)
            await retire_robot(hm, api, reg, old, actor=actor, action="robot.replace")
    for old in plan.delete:
        actions.append(
            HarborActionPublic(
                action="delete-robot", target=old.harbor_name, reason="no longer in the governance model"
            )
        )
        if not dry_run:
            await retire_robot(hm, api, reg, old, actor=actor, action="robot.delete")
    for old in plan.retire:
        actions.append(
            HarborActionPublic(
                action="retire-robot",
                target=old.harbor_name,
                reason="replaced by rotation; its grace period ended",
            )
        )
        if not dry_run:
            await retire_robot(hm, api, reg, old, actor=actor)
    return actions


def _next(hm: Harbourmaster, reg: Registry, name: str) -> int:
    with hm.store.read() as tx:
        return max((r.generation for r in tx.robots.robots(reg.name) if r.name == name), default=0) + 1
