"""The last registry test results in memory (mirrors :mod:`harbourmaster.store.registry_tests`)."""

from __future__ import annotations

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

    def latest(self) -> dict[str, LastTest]:
        return dict(self._tables.rows)
