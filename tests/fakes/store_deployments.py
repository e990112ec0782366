"""The deployment repository in memory (mirrors :mod:`harbourmaster.store.deployments`)."""

from __future__ import annotations

import builtins
import copy
from dataclasses import dataclass, field

from harbourmaster.store.deployment_interface import DeploymentRepository, StoredDeployment


@dataclass
class DeploymentTables:
    rows: dict[str, StoredDeployment] = field(default_factory=dict)


class MemoryDeploymentRepository(DeploymentRepository):
    def __init__(self, tables: DeploymentTables) -> None:
        self._tables = tables

    def save(self, deployment: StoredDeployment) -> None:
        for other in self._tables.rows.values():
            same_place = (other.environment, other.tenant, other.name) == (
                deployment.environment, deployment.tenant, deployment.name
            )  # fmt: skip
            if same_place and other.id != deployment.id:
                raise AssertionError("unique (environment, tenant, name) violated")  # the SQL constraint
        self._tables.rows[deployment.id] = copy.deepcopy(deployment)

    def get(self, deployment_id: str) -> StoredDeployment | None:
        found = self._tables.rows.get(deployment_id)
        return None if found is None else copy.deepcopy(found)

    def find(self, *, environment: str, tenant: str, name: str) -> StoredDeployment | None:
        for row in self._tables.rows.values():
            if (row.environment, row.tenant, row.name) == (environment, tenant, name):
                return copy.deepcopy(row)
        return None

    def list(self, *, environment: str | None = None) -> builtins.list[StoredDeployment]:
        rows = [r for r in self._tables.rows.values() if environment in (None, r.environment)]
        return [copy.deepcopy(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))]
