"""The approved content repository in memory (mirrors :mod:`harbourmaster.store.approved_content`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harbourmaster.store.approved_content_interface import ApprovedContentRepository, ApprovedImage


@dataclass
class ApprovedContentTables:
    rows: dict[tuple[str, str, str], ApprovedImage] = field(default_factory=dict)


class MemoryApprovedContentRepository(ApprovedContentRepository):
    def __init__(self, tables: ApprovedContentTables) -> None:
        self._tables = tables

    def record(self, images: Sequence[ApprovedImage]) -> None:
        for image in images:
            self._tables.rows[(image.registry, image.repository, image.digest)] = image

    def registries_with_content(self) -> frozenset[str]:
        return frozenset(key[0] for key in self._tables.rows)

    def approved(self, registry: str) -> list[ApprovedImage]:
        return [row for key, row in sorted(self._tables.rows.items()) if key[0] == registry]
