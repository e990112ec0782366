"""The managed robot repository's interface: the Harbor robot accounts harbourmaster keeps, each with
its secret sealed by the vault (implemented by :mod:`harbourmaster.store.robots`; the services are
:mod:`harbourmaster.services.harbor_sync` and :mod:`harbourmaster.services.robot_rotation`).

A robot has generations: rotating by replacement creates the next generation and marks the previous one
to retire after a grace period, so pulls that already hold the old secret still finish.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["ManagedRobot", "RobotRepository", "robot_field"]


def robot_field(name: str, generation: int) -> str:
    """The vault field a robot generation's secret is sealed under (its record is the registry's name)."""
    return f"robot/{name}/{generation}"


@dataclass(frozen=True, kw_only=True)
class ManagedRobot:
    """One generation of a robot account on a managed Harbor.

    ``name`` is harbourmaster's name for it (``harbourmaster-pull``, a CI robot's); ``harbor_name`` is
    Harbor's (``robot$payments+harbourmaster-pull-2``).  ``retire_after`` is set once a newer
    generation replaced it; ``last_error`` is the last rotation failure (the secret was kept).
    """

    id: int = 0
    registry: str
    name: str
    generation: int
    access: str
    harbor_id: int
    harbor_name: str
    project: str
    issued_at: dt.datetime
    expires_at: dt.datetime | None
    sealed: bytes
    retire_after: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    alerted_at: dt.datetime | None = None


class RobotRepository(ABC):
    @abstractmethod
    def robots(self, registry: str | None = None) -> list[ManagedRobot]:
        """Every stored generation (of ``registry``), by registry, name, generation."""

    def active(self, registry: str, name: str) -> ManagedRobot | None:
        """The newest generation of ``registry``'s robot ``name`` that is not retiring."""
        current = [r for r in self.robots(registry) if r.name == name and r.retire_after is None]
        return max(current, key=lambda r: r.generation, default=None)

    @abstractmethod
    def add(self, robot: ManagedRobot) -> ManagedRobot:
        """Store a new generation; returns it with its id."""

    @abstractmethod
    def update(self, robot: ManagedRobot) -> None:
        """Replace the stored row ``robot.id`` with ``robot``."""

    @abstractmethod
    def remove(self, robot_id: int) -> None:
        """Forget one generation (after Harbor deleted it)."""
