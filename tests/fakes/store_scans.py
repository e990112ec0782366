"""The in-memory image scan repository: the latest scan of each image digest."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace

from harbourmaster.store.scan_interface import ScanRepository
from harbourmaster.store.values import StoredScan

__all__ = ["MemoryScanRepository", "ScanTables"]


@dataclass
class ScanTables:
    scans: dict[str, StoredScan] = field(default_factory=dict)


class MemoryScanRepository(ScanRepository):
    def __init__(self, tables: ScanTables) -> None:
        self._t = tables

    def record(self, scan: StoredScan) -> None:
        self._t.scans[scan.image_digest] = replace(scan, findings=tuple(f.matched() for f in scan.findings))

    def latest(self, digests: Collection[str]) -> dict[str, StoredScan]:
        return {d: self._t.scans[d] for d in set(digests) if d in self._t.scans}

    def digests(self, *, limit: int, after: str | None = None) -> list[str]:
        return [d for d in sorted(self._t.scans) if after is None or d > after][:limit]
