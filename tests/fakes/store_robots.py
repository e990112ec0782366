"""The managed robot repository in memory (mirrors :mod:`harbourmaster.store.robots`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from harbourmaster.store.robot_interface import ManagedRobot, RobotRepository


@dataclass
class RobotTables:
    rows: dict[int, ManagedRobot] = field(default_factory=dict)
    next_id: int = 1


class MemoryRobotRepository(RobotRepository):
    def __init__(self, tables: RobotTables) -> None:
        self._tables = tables

    def robots(self, registry: str | None = None) -> list[ManagedRobot]:
        rows = [r for r in self._tables.rows.values() if registry is None or r.registry == registry]
        return sorted(rows, key=lambda r: (r.registry, r.name, r.generation))

    def add(self, robot: ManagedRobot) -> ManagedRobot:
        taken = any(
            (r.registry, r.name, r.generation) == (robot.registry, robot.name, robot.generation)
            for r in self._tables.rows.values()
        )
        if taken:
            raise ValueError(f"robot {robot.registry}/{robot.name} generation {robot.generation} exists")
        stored = replace(robot, id=self._tables.next_id)
        self._tables.next_id += 1
        self._tables.rows[stored.id] = stored
        return stored

    def update(self, robot: ManagedRobot) -> None:
        if robot.id not in self._tables.rows:
            raise KeyError(robot.id)
        self._tables.rows[robot.id] = robot

    def remove(self, robot_id: int) -> None:
        self._tables.rows.pop(robot_id, None)
