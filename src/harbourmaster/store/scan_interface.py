"""The image scan repository's interface: the latest scan of each image digest, which the image policy
verdict judges (implemented by :mod:`harbourmaster.store.scans`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection

from harbourmaster.store.values import StoredScan

__all__ = ["ScanRepository"]


class ScanRepository(ABC):
    """One scan per image digest: recording a scan replaces the digest's earlier one."""

    @abstractmethod
    def record(self, scan: StoredScan) -> None:
        """Keep ``scan`` as the latest of its digest."""

    @abstractmethod
    def latest(self, digests: Collection[str]) -> dict[str, StoredScan]:
        """The stored scan of each of ``digests`` that has one."""

    @abstractmethod
    def digests(self, *, limit: int, after: str | None = None) -> list[str]:
        """Up to ``limit`` scanned digests in order, after ``after`` (for refreshing them all)."""
