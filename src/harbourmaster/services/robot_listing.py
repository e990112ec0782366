"""The robot accounts harbourmaster keeps on a managed Harbor, as a list to read (the web UI's robots page).

Each stored generation is shown with harbourmaster's name for it, Harbor's account name, its permission,
its generation, whether it is the active one or retiring after a rotation replaced it, when its secret
was issued, when it expires and when it is due for rotation, and the last rotation failure.  Never the
secret, nor anything derived from it: only the names and times kept beside the sealed secret.

The robots are changed by ``harbor sync`` (:mod:`harbourmaster.services.harbor_sync`) and rotation
(:mod:`harbourmaster.services.robot_rotation`).
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.harbor import RobotLife, desired_robots, harbor_project, rotation_time
from harbourmaster.domain.model import Provider, Registry
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_scope import named_registry
from harbourmaster.store.robot_interface import ManagedRobot

__all__ = ["ManagedRobotPublic", "ManagedRobotsPublic", "managed_robots"]

ACTIVE = "active"
RETIRING = "retiring"


class ManagedRobotPublic(BaseModel):
    """One stored generation of a managed robot account: names and times, never its secret."""

    #: harbourmaster's name for it: ``harbourmaster-pull``, ``harbourmaster-push`` or a CI robot's.
    name: str
    #: Harbor's account name (the user name pulls and pushes log in with), ``robot$payments+ci-2``.
    harbor_name: str
    #: ``pull`` or ``push``.
    access: str
    generation: int
    #: ``active`` (in use) or ``retiring`` (a rotation replaced it; it works until ``retires_at``).
    state: str
    #: When its current secret was issued: created, replaced by a rotation, or refreshed in place.
    issued_at: dt.datetime
    #: None: it never expires.
    expires_at: dt.datetime | None
    #: Whole days from today to its expiry day (negative once past); None: it never expires.
    days_left: int | None
    expired: bool
    retires_at: dt.datetime | None
    #: When scheduled rotation replaces it (the registry's ``rotate_at`` of its lifetime); None for a
    #: retiring generation or one that never expires.
    rotation_due_at: dt.datetime | None
    rotation_due: bool
    #: Whether the governance model still names it (a robot it no longer names is deleted by the next sync).
    in_model: bool
    #: The last rotation of it that failed, and why (its secret was kept).
    last_error: str | None
    last_error_at: dt.datetime | None


class ManagedRobotsPublic(BaseModel):
    """A registry's managed robots; for a registry that is not a managed Harbor, ``managed`` is false and
    ``to_manage`` says what its definition lacks."""

    registry: str
    provider: str
    url: str
    #: The registry's path scope (its first segment is the Harbor project); None: the whole registry.
    scope: str | None
    managed: bool
    #: The Harbor project the robots belong to (None: not managed).
    project: str | None = None
    #: What the registry's definition lacks to be managed (empty when it is).
    to_manage: list[str] = []
    robot_lifetime_days: int | None = None
    rotate_at: float | None = None
    alert_days: int | None = None
    #: Every stored generation, in the model's robot order, newest generation first.
    robots: list[ManagedRobotPublic] = []
    #: Robots the model names that have no account yet (the next ``harbor sync`` creates them).
    not_issued: list[str] = []


def _to_manage(reg: Registry) -> list[str]:
    missing = []
    if reg.provider is not Provider.HARBOR:
        missing.append(f"provider: harbor (its provider is {reg.provider.value}; only a Harbor is managed)")
    if not reg.location.scope:
        missing.append("a scope: the Harbor project whose robot accounts harbourmaster keeps")
    if reg.management is None:
        missing.append("manage: true (with an administrator credential for Harbor's API)")
    return missing


def _public(robot: ManagedRobot, *, in_model: bool, rotate_at: float, now: dt.datetime) -> ManagedRobotPublic:
    expires = robot.expires_at
    days_left = None if expires is None else (expires.date() - now.date()).days
    active = robot.retire_after is None
    life = RobotLife(robot.issued_at, expires)
    # The point serve's rotation loop waits for (:func:`rotation_due`); a retiring robot is not rotated.
    due_at = rotation_time(life, rotate_at=rotate_at) if active else None
    return ManagedRobotPublic(
        name=robot.name,
        harbor_name=robot.harbor_name,
        access=robot.access,
        generation=robot.generation,
        state=ACTIVE if active else RETIRING,
        issued_at=robot.issued_at,
        expires_at=expires,
        days_left=days_left,
        expired=expires is not None and expires <= now,
        retires_at=robot.retire_after,
        rotation_due_at=due_at,
        rotation_due=due_at is not None and now >= due_at,
        in_model=in_model,
        last_error=robot.last_error,
        last_error_at=robot.last_error_at,
    )


def managed_robots(hm: Harbourmaster, principal: Principal, registry_name: str) -> ManagedRobotsPublic:
    """The robot accounts harbourmaster keeps on ``registry_name`` (none, with what it lacks, when it is
    not a managed Harbor).

    Raises:
        Forbidden: the principal may not read the governance model.
        NotFound: no such registry.
    """
    require(principal, Permission.GOVERNANCE_READ)
    reg = named_registry(hm, registry_name)
    project = harbor_project(reg)
    management = reg.management
    if management is None or project is None or reg.provider is not Provider.HARBOR:
        return ManagedRobotsPublic(registry=reg.name, provider=reg.provider.value, url=reg.url,
                                   scope=reg.scope, managed=False, to_manage=_to_manage(reg))  # fmt: skip
    with hm.store.read() as tx:
        stored = tx.robots.robots(reg.name)
    now = hm.clock.now()
    order = [spec.name for spec in desired_robots(management)]
    rank = {name: i for i, name in enumerate(order)}
    stored.sort(key=lambda r: (rank.get(r.name, len(order)), r.name, -r.generation))
    return ManagedRobotsPublic(
        registry=reg.name,
        provider=reg.provider.value,
        url=reg.url,
        scope=reg.scope,
        managed=True,
        project=project,
        robot_lifetime_days=management.robot_lifetime_days,
        rotate_at=management.rotate_at,
        alert_days=management.alert_days,
        robots=[_public(r, in_model=r.name in rank, rotate_at=management.rotate_at, now=now) for r in stored],
        not_issued=[name for name in order if not any(r.name == name for r in stored)],
    )
