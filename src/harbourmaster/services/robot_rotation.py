"""Rotating managed robot accounts, and telling when credentials are about to expire.

* :func:`rotate_credential` (``credentials rotate NAME``): each robot of a managed Harbor gets a new
  secret.  By default a robot is *replaced*: its next generation is created with a full lifetime and
  stored, and the previous one keeps working for a grace period (:func:`grace_seconds`) so pulls that
  already hold its secret finish; then it is deleted.  ``refresh`` instead has Harbor generate a new
  secret for the same robot (its name stays, the old secret stops working at once, the expiry does not
  move).  A rotation Harbor refuses keeps the old secret, records why on the robot, and is reported.
* :func:`rotation_tick` (``serve``, every ``HARBOURMASTER_ROTATION_SECONDS``): rotates each robot whose
  ``rotate_at`` fraction of lifetime has passed, retires replaced generations whose grace ended, and
  raises an alert for every credential expiring within its window: an audit record
  (``credential.expiring``, once a day per credential) and a POST to ``HARBOURMASTER_CREDENTIAL_WEBHOOK_URL``.
* :func:`credential_expiries`: the seconds left of every credential, for the
  ``harbourmaster_credential_expiry_seconds`` metric: static credentials (their ``expires`` day),
  managed robots, and the provider tokens (ECR, ACR, GAR) minted by this process.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.harbor import RobotLife, desired_robots, rotation_due
from harbourmaster.domain.harbor_management import RobotSpec
from harbourmaster.domain.model import Registry
from harbourmaster.errors import BadInput
from harbourmaster.notify.interface import Notification
from harbourmaster.registry.harbor_api import HarborApi, HarborApiError
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.harbor_robots import (
    admin_api,
    grace_seconds,
    issue_robot,
    managed_registry,
    refresh_robot,
    retire_robot,
)
from harbourmaster.services.registry_endpoints import run_sync
from harbourmaster.services.token_states import minted_tokens
from harbourmaster.store.robot_interface import ManagedRobot

__all__ = [
    "EXPIRING_EVENT",
    "CredentialExpiry",
    "RobotRotationPublic",
    "RotationPublic",
    "TickReport",
    "credential_expiries",
    "rotate_credential",
    "rotation_tick",
]

EXPIRING_EVENT = "credential.expiring"
_ALERT_SCHEDULE = "daily"
_SYSTEM = "harbourmaster"
#: Static (document) credentials are alerted this many days ahead.
STATIC_ALERT_DAYS = 14


class RobotRotationPublic(BaseModel):
    """One robot's rotation: ``rotated`` or ``failed`` (with why; the old secret was kept)."""

    robot: str
    outcome: str
    username: str
    expires: dt.datetime | None = None
    retires_old_at: dt.datetime | None = None
    reason: str | None = None


class RotationPublic(BaseModel):
    registry: str
    mode: str
    robots: list[RobotRotationPublic]

    @property
    def failed(self) -> bool:
        return any(r.outcome == "failed" for r in self.robots)


def _specs(reg: Registry) -> dict[str, RobotSpec]:
    assert reg.management is not None
    return {s.name: s for s in desired_robots(reg.management)}


async def _rotate_one(
    hm: Harbourmaster,
    api: HarborApi,
    reg: Registry,
    robot: ManagedRobot,
    spec: RobotSpec,
    *,
    refresh: bool,
    actor: str,
) -> RobotRotationPublic:
    try:
        if refresh:
            updated = await refresh_robot(hm, api, reg, robot, actor=actor)
            return RobotRotationPublic(
                robot=robot.name, outcome="rotated", username=updated.harbor_name, expires=updated.expires_at
            )
        with hm.store.read() as tx:
            generation = (
                max(
                    (r.generation for r in tx.robots.robots(reg.name) if r.name == robot.name),
                    default=robot.generation,
                )
                + 1
            )
        new = await issue_robot(hm, api, reg, spec, generation=generation, actor=actor)
    except HarborApiError as exc:
        reason = exc.message
        with hm.store.transaction() as tx:
            tx.robots.update(replace(robot, last_error=reason, last_error_at=hm.clock.now()))
            tx.audit.append(
                actor=actor,
                action="credential.rotate",
                target=reg.name,
                result="failed",
                details={"robot": robot.harbor_name, "reason": reason, "kept": "old secret"},
            )
        return RobotRotationPublic(
            robot=robot.name,
            outcome="failed",
            username=robot.harbor_name,
            expires=robot.expires_at,
            reason=reason,
        )
    retire = hm.clock.now() + dt.timedelta(seconds=grace_seconds(hm))
    with hm.store.transaction() as tx:
        tx.robots.update(replace(robot, retire_after=retire))
        tx.audit.append(
            actor=actor,
            action="credential.rotate",
            target=reg.name,
            details={
                "robot": new.harbor_name,
                "replaces": robot.harbor_name,
                "old_retires": retire.isoformat(),
            },
        )
    return RobotRotationPublic(
        robot=robot.name,
        outcome="rotated",
        username=new.harbor_name,
        expires=new.expires_at,
        retires_old_at=retire,
    )


def rotate_credential(
    hm: Harbourmaster, principal: Principal, registry: str, *, robot: str | None = None, refresh: bool = False
) -> RotationPublic:
    """Rotate the robot accounts of managed Harbor ``registry`` (only ``robot`` when given).

    Raises:
        Forbidden: the principal may not change the governance model.
        NotFound / BadInput: no such registry, not a managed Harbor (other credentials are rotated at their
            provider and applied), no such robot, or no robot issued yet (run ``harbor sync``).
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    reg = managed_registry(hm, registry)
    specs = _specs(reg)
    if robot is not None and robot not in specs:
        raise BadInput(f"--robot: registry {registry} has no robot {robot}; it has {', '.join(specs)}")
    with hm.store.read() as tx:
        active = [
            a
            for name in specs
            if (robot is None or name == robot) and (a := tx.robots.active(reg.name, name)) is not None
        ]
    if not active:
        raise BadInput(
            f"registry {registry} has no robot account to rotate yet; "
            f"run: harbourmaster harbor sync --registry {registry}"
        )
    api = admin_api(hm, reg, actor=principal.name, purpose="credential.rotate")

    async def run() -> list[RobotRotationPublic]:
        async with api:
            return [
                await _rotate_one(hm, api, reg, r, specs[r.name], refresh=refresh, actor=principal.name)
                for r in active
            ]

    return RotationPublic(registry=reg.name, mode="refresh" if refresh else "replace", robots=run_sync(run()))


# -- the schedule ---------------------------------------------------------------------------------


@dataclass
class TickReport:
    """What one :func:`rotation_tick` did (for the log)."""

    rotated: list[str]
    failed: list[str]
    retired: list[str]
    alerts: list[str]


def rotation_tick(hm: Harbourmaster) -> TickReport:
    """Rotate what is due, retire what a rotation replaced, alert on what expires soon (``serve``'s loop).

    Problems with one registry (Harbor down, a credential that does not open) are recorded and the
    others still run.
    """
    report = TickReport([], [], [], [])
    now = hm.clock.now()
    for reg in hm.state().registries:
        if reg.management is None:
            continue
        with hm.store.read() as tx:
            stored = tx.robots.robots(reg.name)
        due = [
            r
            for r in stored
            if r.retire_after is None
            and rotation_due(
                RobotLife(r.issued_at, r.expires_at), rotate_at=reg.management.rotate_at, now=now
            )
        ]
        ended = [r for r in stored if r.retire_after is not None and r.retire_after <= now]
        if not due and not ended:
            continue
        try:
            api = admin_api(hm, reg, actor=_SYSTEM, purpose="credential.rotate")
        except (BadInput, HarborApiError) as exc:
            report.failed.extend(f"{reg.name}/{r.name}: {exc.message}" for r in due)
            continue
        specs = _specs(reg)
        run_sync(_tick_registry(hm, api, reg, due, ended, specs, report))
    report.alerts = _alert(hm, now)
    return report


async def _tick_registry(
    hm: Harbourmaster,
    api: HarborApi,
    reg: Registry,
    due: list[ManagedRobot],
    ended: list[ManagedRobot],
    specs: dict[str, RobotSpec],
    report: TickReport,
) -> None:
    async with api:
        for robot in due:
            if robot.name not in specs:
                continue
            result = await _rotate_one(hm, api, reg, robot, specs[robot.name], refresh=False, actor=_SYSTEM)
            (report.rotated if result.outcome == "rotated" else report.failed).append(
                f"{reg.name}/{robot.name}" + (f": {result.reason}" if result.reason else "")
            )
        for robot in ended:
            try:
                await retire_robot(hm, api, reg, robot, actor=_SYSTEM)
                report.retired.append(robot.harbor_name)
            except HarborApiError as exc:
                report.failed.append(f"{reg.name}/{robot.harbor_name}: retire: {exc.message}")


# -- expiry ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CredentialExpiry:
    """One credential's expiry: ``kind`` is ``static`` (the document's), ``robot`` (managed) or ``token``
    (a provider token this process minted); ``credential`` names it (user name, robot, token)."""

    registry: str
    credential: str
    kind: str
    expires_at: dt.datetime
    alert_days: int
    #: What the unauthenticated /metrics endpoint may call it: the robot's harbourmaster name
    #: (``harbourmaster-pull``, ``ci``), ``static`` or ``token`` — never an account or key id.
    label: str = ""

    def seconds_left(self, now: dt.datetime) -> float:
        return (self.expires_at - now).total_seconds()


def credential_expiries(hm: Harbourmaster) -> list[CredentialExpiry]:
    """Every credential with an expiry, soonest first (names and times only, never a secret)."""
    out: list[CredentialExpiry] = []
    state = hm.state()
    known = {r.name for r in state.registries}
    for reg in state.registries:
        cred = reg.credential
        if cred is not None and cred.expires is not None:
            end = dt.datetime.combine(cred.expires + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
            out.append(CredentialExpiry(reg.name, cred.username, "static", end, STATIC_ALERT_DAYS, "static"))
    with hm.store.read() as tx:
        robots = tx.robots.robots()
    alert_days = {r.name: r.management.alert_days for r in state.registries if r.management is not None}
    for robot in robots:
        if robot.expires_at is not None and robot.retire_after is None and robot.registry in known:
            out.append(
                CredentialExpiry(
                    robot.registry,
                    robot.harbor_name,
                    "robot",
                    robot.expires_at,
                    alert_days.get(robot.registry, STATIC_ALERT_DAYS),
                    robot.name,
                )
            )
    tokens = minted_tokens()
    out.extend(
        CredentialExpiry(name, "token", "token", end, 0, "token")
        for name, end in tokens.items()
        if name in known
    )
    return sorted(out, key=lambda c: (c.expires_at, c.registry, c.credential))


def _alert(hm: Harbourmaster, now: dt.datetime) -> list[str]:
    """Audit (once a day per credential) and announce the credentials expiring within their window."""
    due = [
        c
        for c in credential_expiries(hm)
        if c.kind != "token" and c.seconds_left(now) <= c.alert_days * 86400
    ]
    if not due:
        return []
    today = dt.datetime.combine(now.date(), dt.time(), tzinfo=dt.UTC)
    fresh: list[CredentialExpiry] = []
    with hm.store.transaction() as tx:
        for c in due:
            # One alert a day per credential, across every serve process: a compare-and-set of its slot.
            slot = f"credential-alert/{c.registry}/{c.credential}"
            previous = tx.governance.mirror_slot(slot, schedule=_ALERT_SCHEDULE)
            if previous == today or not tx.governance.claim_mirror_slot(
                slot, schedule=_ALERT_SCHEDULE, previous=previous, slot=today
            ):
                continue
            fresh.append(c)
            left = c.seconds_left(now)
            tx.audit.append(
                actor=_SYSTEM,
                action=EXPIRING_EVENT,
                target=c.registry,
                result="expired" if left <= 0 else "ok",
                details={
                    "credential": c.credential,
                    "kind": c.kind,
                    "expires": c.expires_at.isoformat(),
                    "days_left": int(left // 86400),
                },
            )
    if fresh and hm.alert_notifier is not None:
        hm.alert_notifier.send(
            [
                Notification(
                    event=EXPIRING_EVENT,
                    subject=f"{c.registry}/{c.credential}",
                    payload={
                        "registry": c.registry,
                        "credential": c.credential,
                        "kind": c.kind,
                        "expires": c.expires_at.isoformat(),
                        "seconds_left": int(c.seconds_left(now)),
                    },
                )
                for c in fresh
            ]
        )
    return [f"{c.registry}/{c.credential}" for c in fresh]
