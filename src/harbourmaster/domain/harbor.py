"""Harbor as a managed registry: what its project and robot accounts must look like (pure).

For a registry with ``provider: harbor`` and ``manage: true``, harbourmaster owns the Harbor project
its ``scope`` names (the first path segment), that project's security settings, and the robot accounts
used against it (D-08):

* the project settings follow the strictest tier among the environments the registry is granted to,
  so Harbor's deployment security policy blocks exactly what the admission controller blocks (D-07):
  ``auto_scan``, ``prevent_vul`` with ``severity``, ``enable_content_trust_cosign``, and a project CVE
  allowlist made from harbourmaster's allowlist entries for the registry (``reuse_sys_cve_allowlist``
  is off, so Harbor's system allowlist cannot widen it);
* harbourmaster's own robots (``harbourmaster-pull``: pull, used for every pull and deployment;
  ``harbourmaster-push``: push, used for signatures, SBOMs and mirrors) and the CI robots the document
  declares, each on the registry's project only, each with an expiry (mandatory as soon as the
  registry is granted to a staging or production environment).

A robot is rotated when the given fraction of its lifetime has passed, and reported when it is about to
expire.  Everything here takes the time as an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from harbourmaster.domain.harbor_management import (
    DEFAULT_ALERT_DAYS,
    DEFAULT_ROBOT_LIFETIME_DAYS,
    DEFAULT_ROTATE_AT,
    OWN_ROBOTS,
    PULL_ROBOT,
    PUSH_ROBOT,
    HarborManagement,
    RobotAccess,
    RobotSpec,
)
from harbourmaster.domain.model import AllowlistEntry, Registry, RegistryGrant, Tier
from harbourmaster.domain.tiers import TierPolicy, threshold_rank

__all__ = [
    "DEFAULT_ALERT_DAYS",
    "DEFAULT_ROBOT_LIFETIME_DAYS",
    "DEFAULT_ROTATE_AT",
    "OWN_ROBOTS",
    "PULL_ROBOT",
    "PUSH_PURPOSES",
    "PUSH_ROBOT",
    "HarborManagement",
    "ProjectSettings",
    "RobotAccess",
    "RobotLife",
    "RobotSpec",
    "SettingChange",
    "allowlist_for",
    "desired_robots",
    "guarded_tiers",
    "harbor_project",
    "project_settings",
    "robot_for_purpose",
    "rotation_due",
    "rotation_time",
    "settings_changes",
]


#: What harbourmaster does with the push robot: write signatures, SBOMs, mirrored and imported images.
PUSH_PURPOSES: Final = frozenset({"image.sign", "sbom.attach", "mirror", "airgap.import"})


def robot_for_purpose(purpose: str) -> str:
    """Which of harbourmaster's robots an operation uses: the push robot to write, else the pull robot."""
    return PUSH_ROBOT if purpose in PUSH_PURPOSES else PULL_ROBOT


def harbor_project(registry: Registry) -> str | None:
    """The Harbor project a registry governs: the first segment of its scope (None: no scope)."""
    return registry.location.scope[0] if registry.location.scope else None


def desired_robots(management: HarborManagement) -> tuple[RobotSpec, ...]:
    """harbourmaster's own robots, then the CI robots, in that order."""
    own = tuple(
        RobotSpec(name, access, management.robot_lifetime_days, f"harbourmaster: {access.value} robot")
        for name, access in ((PULL_ROBOT, RobotAccess.PULL), (PUSH_ROBOT, RobotAccess.PUSH))
    )
    return (*own, *management.robots)


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    """A Harbor project's security settings as harbourmaster wants them.

    ``severity`` is Harbor's ``prevent_vul`` threshold; ``allowlist_expires`` a Unix time (None: never).
    """

    auto_scan: bool
    prevent_vul: bool
    severity: str
    content_trust_cosign: bool
    reuse_sys_cve_allowlist: bool
    allowlist: tuple[str, ...]
    allowlist_expires: int | None
    #: The tiers the settings were derived from (for the report).
    tiers: tuple[Tier, ...] = ()
    #: Anonymous pulls: only for a registry the document declares public.
    public: bool = False

    def metadata(self) -> dict[str, str]:
        """Harbor's project ``metadata`` (string values)."""
        return {
            "public": _flag(self.public),
            "auto_scan": _flag(self.auto_scan),
            "prevent_vul": _flag(self.prevent_vul),
            "severity": self.severity,
            "enable_content_trust_cosign": _flag(self.content_trust_cosign),
            "reuse_sys_cve_allowlist": _flag(self.reuse_sys_cve_allowlist),
        }


def _flag(value: bool) -> str:
    return "true" if value else "false"


def allowlist_for(registry: str, entries: Iterable[AllowlistEntry], today: dt.date) -> list[AllowlistEntry]:
    """The active allowlist entries that apply to ``registry``: its own and the system-wide ones."""
    return [e for e in entries if e.active(today) and e.registry in (None, registry)]


def _end_of_day(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC).timestamp())


def project_settings(
    registry: Registry,
    *,
    grants: Iterable[RegistryGrant],
    environment_tiers: Mapping[str, Tier],
    tiers: Mapping[Tier, TierPolicy],
    allowlist: Iterable[AllowlistEntry],
    today: dt.date,
) -> ProjectSettings:
    """The settings of ``registry``'s Harbor project: the strictest tier it is granted to decides.

    A registry granted nowhere yet gets the production tier's settings (the strictest default).
    """
    granted = sorted(
        {environment_tiers[g.environment] for g in grants if g.registry == registry.name
         and g.environment in environment_tiers},
        key=list(Tier).index,
    )  # fmt: skip
    policies = [tiers[t] for t in (granted or [Tier.PRODUCTION]) if t in tiers]
    blocking = [p for p in policies if threshold_rank(p.block_severity) > 0]
    strictest = min(blocking, key=lambda p: threshold_rank(p.block_severity), default=None)
    entries = allowlist_for(registry.name, allowlist, today)
    ids = tuple(sorted({e.advisory for e in entries}))
    # One expiry for the whole project allowlist: the earliest entry's, so none outlives its own.
    expires = min((e.expires for e in entries), default=None)
    return ProjectSettings(
        auto_scan=True,
        prevent_vul=strictest is not None,
        severity=strictest.block_severity if strictest is not None else "none",
        content_trust_cosign=any(p.require_signature for p in policies),
        reuse_sys_cve_allowlist=False,
        allowlist=ids,
        allowlist_expires=_end_of_day(expires) if expires is not None else None,
        tiers=tuple(granted),
        public=registry.declared_public,
    )


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One project setting that differs: its name, what Harbor has (None: unset), what is wanted."""

    setting: str
    current: str | None
    wanted: str


def settings_changes(
    wanted: ProjectSettings,
    metadata: Mapping[str, str],
    allowlist: tuple[str, ...],
    allowlist_expires: int | None,
) -> list[SettingChange]:
    """How a project's settings (as Harbor answers them) differ from ``wanted``; empty when they match.

    Harbor's ``severity`` is compared only while ``prevent_vul`` is on (Harbor ignores it otherwise).
    """
    changes: list[SettingChange] = []
    for key, value in wanted.metadata().items():
        current = metadata.get(key)
        if key == "severity" and not wanted.prevent_vul:
            continue
        if (current or "").lower() != value:
            changes.append(SettingChange(key, current, value))
    if tuple(sorted(set(allowlist))) != wanted.allowlist:
        changes.append(
            SettingChange(
                "cve_allowlist", ",".join(sorted(set(allowlist))) or None, ",".join(wanted.allowlist)
            )
        )
    elif wanted.allowlist and allowlist_expires != wanted.allowlist_expires:
        changes.append(
            SettingChange(
                "cve_allowlist.expires_at",
                str(allowlist_expires) if allowlist_expires is not None else None,
                str(wanted.allowlist_expires),
            )
        )
    return changes


@dataclass(frozen=True, slots=True)
class RobotLife:
    """When a robot's secret was issued and when it expires (None: never)."""

    issued_at: dt.datetime
    expires_at: dt.datetime | None = field(default=None)


def rotation_time(life: RobotLife, *, rotate_at: float) -> dt.datetime | None:
    """When ``rotate_at`` of the robot's lifetime has passed (a robot that never expires: never, None)."""
    if life.expires_at is None:
        return None
    return life.issued_at + (life.expires_at - life.issued_at) * rotate_at


def rotation_due(life: RobotLife, *, rotate_at: float, now: dt.datetime) -> bool:
    """Whether ``rotate_at`` of the robot's lifetime has passed (a robot that never expires: never)."""
    at = rotation_time(life, rotate_at=rotate_at)
    return at is not None and now >= at


_GUARDED = (Tier.STAGING, Tier.PRODUCTION)


def guarded_tiers(
    grants: Iterable[RegistryGrant], registry: str, environment_tiers: Mapping[str, Tier]
) -> list[str]:
    """The environments at staging or production ``registry`` is granted to (where expiry is mandatory)."""
    return sorted(
        {g.environment for g in grants if g.registry == registry
         and environment_tiers.get(g.environment) in _GUARDED}
    )  # fmt: skip
