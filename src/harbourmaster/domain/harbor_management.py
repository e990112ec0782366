"""How harbourmaster manages a Harbor registry: the settings a registry's ``management`` holds (pure
values; the rules that use them are in :mod:`harbourmaster.domain.harbor`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

__all__ = [
    "DEFAULT_ALERT_DAYS",
    "DEFAULT_ROBOT_LIFETIME_DAYS",
    "DEFAULT_ROTATE_AT",
    "OWN_ROBOTS",
    "PULL_ROBOT",
    "PUSH_ROBOT",
    "HarborManagement",
    "RobotAccess",
    "RobotSpec",
    "management_document",
    "management_from_document",
]

DEFAULT_ROBOT_LIFETIME_DAYS: Final = 90
#: Rotate when half the lifetime has passed: a failed rotation leaves the other half to retry.
DEFAULT_ROTATE_AT: Final = 0.5
DEFAULT_ALERT_DAYS: Final = 14
PULL_ROBOT: Final = "harbourmaster-pull"
PUSH_ROBOT: Final = "harbourmaster-push"
OWN_ROBOTS: Final = (PULL_ROBOT, PUSH_ROBOT)


class RobotAccess(StrEnum):
    """What a robot may do on its projects' repositories."""

    PULL = "pull"
    PUSH = "push"

    @property
    def actions(self) -> tuple[str, ...]:
        # Pushing a signature or a layer needs to read the repository too.
        return ("pull",) if self is RobotAccess.PULL else ("pull", "push")


@dataclass(frozen=True, slots=True)
class RobotSpec:
    """A robot account harbourmaster keeps on a managed Harbor.

    ``lifetime_days`` None: it never expires (refused once the registry reaches staging or production).
    """

    name: str
    access: RobotAccess
    lifetime_days: int | None = DEFAULT_ROBOT_LIFETIME_DAYS
    description: str = ""


@dataclass(frozen=True, slots=True)
class HarborManagement:
    """How harbourmaster manages a Harbor registry (the registry's ``management`` settings)."""

    robot_lifetime_days: int | None = DEFAULT_ROBOT_LIFETIME_DAYS
    #: Rotate each robot when this fraction of its lifetime has passed (0 < rotate_at < 1).
    rotate_at: float = DEFAULT_ROTATE_AT
    #: Alert when a robot expires within this many days.
    alert_days: int = DEFAULT_ALERT_DAYS
    #: CI robots, beyond harbourmaster's own pull and push robots.
    robots: tuple[RobotSpec, ...] = ()


def _days(value: int | None) -> int:
    return -1 if value is None else value


def management_document(m: HarborManagement) -> dict[str, Any]:
    """A managed Harbor registry's ``management`` as the governance document writes it (-1: never)."""
    return {
        "robot_lifetime_days": _days(m.robot_lifetime_days),
        "rotate_at": m.rotate_at,
        "alert_days": m.alert_days,
        "robots": [
            {"name": r.name, "access": r.access.value, "lifetime_days": _days(r.lifetime_days),
             **({"description": r.description} if r.description else {})}
            for r in m.robots
        ],
    }  # fmt: skip


def management_from_document(doc: Mapping[str, Any]) -> HarborManagement:
    """:func:`management_document`'s inverse (for the store, which keeps the checked document)."""

    def days(value: Any) -> int | None:
        return None if value is None or int(value) == -1 else int(value)

    return HarborManagement(
        robot_lifetime_days=days(doc.get("robot_lifetime_days", DEFAULT_ROBOT_LIFETIME_DAYS)),
        rotate_at=float(doc.get("rotate_at", DEFAULT_ROTATE_AT)),
        alert_days=int(doc.get("alert_days", DEFAULT_ALERT_DAYS)),
        robots=tuple(
            RobotSpec(str(r["name"]), RobotAccess(r["access"]), days(r.get("lifetime_days")),
                      str(r.get("description", "")))
            for r in doc.get("robots") or ()
        ),
    )  # fmt: skip
