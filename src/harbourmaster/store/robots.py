"""The managed robot repository on SQLAlchemy (table ``managed_robots``, migration 0015)."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from harbourmaster.store.models import ManagedRobotRow
from harbourmaster.store.robot_interface import ManagedRobot, RobotRepository

__all__ = ["SqlRobotRepository"]

_STAMPS = ("issued_at", "expires_at", "retire_after", "last_error_at", "alerted_at")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite keeps the wall time without its zone: every stamp is written and read in UTC.
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _robot(row: ManagedRobotRow) -> ManagedRobot:
    return ManagedRobot(
        id=row.id, registry=row.registry_name, name=row.name, generation=row.generation, access=row.access,
        harbor_id=row.harbor_id, harbor_name=row.harbor_name, project=row.project,
        issued_at=_utc(row.issued_at) or row.issued_at, expires_at=_utc(row.expires_at),
        sealed=row.secret_sealed, retire_after=_utc(row.retire_after), last_error=row.last_error,
        last_error_at=_utc(row.last_error_at), alerted_at=_utc(row.alerted_at),
    )  # fmt: skip


def _values(robot: ManagedRobot) -> dict[str, object]:
    values = asdict(robot)
    values.pop("id")
    values["registry_name"] = values.pop("registry")
    values["secret_sealed"] = values.pop("sealed")
    for stamp in _STAMPS:
        values[stamp] = _utc(values[stamp])
    return values


class SqlRobotRepository(RobotRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def robots(self, registry: str | None = None) -> list[ManagedRobot]:
        query = select(ManagedRobotRow).order_by(
            ManagedRobotRow.registry_name, ManagedRobotRow.name, ManagedRobotRow.generation
        )
        if registry is not None:
            query = query.where(ManagedRobotRow.registry_name == registry)
        return [_robot(row) for row in self._session.scalars(query)]

    def add(self, robot: ManagedRobot) -> ManagedRobot:
        row = ManagedRobotRow(**_values(robot))
        self._session.add(row)
        self._session.flush()
        return _robot(row)

    def update(self, robot: ManagedRobot) -> None:
        row = self._session.get(ManagedRobotRow, robot.id)
        if row is None:
            raise KeyError(robot.id)
        for key, value in _values(robot).items():
            setattr(row, key, value)

    def remove(self, robot_id: int) -> None:
        self._session.execute(delete(ManagedRobotRow).where(ManagedRobotRow.id == robot_id))
