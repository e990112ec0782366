"""The deployment repository on SQLAlchemy."""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import asdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbourmaster.store.deployment_interface import DeploymentRepository, DeploymentState, StoredDeployment
from harbourmaster.store.models import DeploymentRow

__all__ = ["SqlDeploymentRepository"]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps the wall time without its zone: every stamp is written in UTC so they compare.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _deployment(row: DeploymentRow) -> StoredDeployment:
    return StoredDeployment(
        id=row.id, name=row.name, environment=row.environment, kind=row.kind, tenant=row.tenant,
        state=DeploymentState(row.state), source=row.source, content=row.content,
        content_sha256=row.content_sha256, images=list(row.images), verdict_id=row.verdict_id,
        options=dict(row.options), result=row.result, error=row.error, job_id=row.job_id,
        created_by=row.created_by, created_at=_utc(row.created_at), updated_at=_utc(row.updated_at),
    )  # fmt: skip


class SqlDeploymentRepository(DeploymentRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def save(self, deployment: StoredDeployment) -> None:
        values = asdict(deployment)
        values["state"] = deployment.state.value
        values["created_at"] = _utc(deployment.created_at)
        values["updated_at"] = _utc(deployment.updated_at)
        row = self._session.get(DeploymentRow, deployment.id)
        if row is None:
            self._session.add(DeploymentRow(**values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
        self._session.flush()

    def get(self, deployment_id: str) -> StoredDeployment | None:
        row = self._session.get(DeploymentRow, deployment_id)
        return None if row is None else _deployment(row)

    def find(self, *, environment: str, tenant: str, name: str) -> StoredDeployment | None:
        row = self._session.scalars(
            select(DeploymentRow).where(
                DeploymentRow.environment == environment,
                DeploymentRow.tenant == tenant,
                DeploymentRow.name == name,
            )
        ).first()
        return None if row is None else _deployment(row)

    def list(self, *, environment: str | None = None) -> builtins.list[StoredDeployment]:
        query = select(DeploymentRow).order_by(DeploymentRow.created_at, DeploymentRow.id)
        if environment is not None:
            query = query.where(DeploymentRow.environment == environment)
        return [_deployment(row) for row in self._session.scalars(query)]
