"""The last registry test results in memory (mirrors :mod:`harbourmaster.store.registry_tests`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from harbourmaster.store.registry_test_interface import LastTest, RegistryTestRepository


@dataclass
class RegistryTestTables:
    rows: dict[str, LastTest] = field(default_factory=dict)


class MemoryRegistryTestRepository(RegistryTestRepository):
    def __init__(self, tables: RegistryTestTables) -> None:
        self._tables = tables

    def record(self, test: LastTest) -> None:
        self._tables.rows[test.registry] = test

    def latest(self, registries: Collection[str] | None = None) -> dict[str, LastTest]:
        wanted = None if registries is None else set(registries)
        return {name: t for name, t in self._tables.rows.items() if wanted is None or name in wanted}
