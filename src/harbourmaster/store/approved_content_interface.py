"""The approved content repository's interface: what an air-gap import made the approved content of a
registry (implemented by :mod:`harbourmaster.store.approved_content`; the service is
:mod:`harbourmaster.services.airgap_import`)."""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass

__all__ = ["ApprovedContentRepository", "ApprovedImage"]


@dataclass(frozen=True, kw_only=True)
class ApprovedImage:
    """One image approved for a registry by an import: where it is, its digest and tags, and the bundle
    (its manifest's sha256) that carried it."""

    registry: str
    repository: str
    digest: str
    tags: tuple[str, ...]
    bundle_sha256: str
    imported_by: str
    imported_at: dt.datetime
    emergency: bool = False
    reason: str | None = None


class ApprovedContentRepository(ABC):
    """Approved images, one row per (registry, repository, digest); a newer import replaces a row."""

    @abstractmethod
    def record(self, images: Sequence[ApprovedImage]) -> None:
        """Keep ``images``, replacing the rows of the same registry, repository and digest."""

    @abstractmethod
    def approved(self, registry: str) -> list[ApprovedImage]:
        """The approved images of ``registry``, by repository then digest."""

    @abstractmethod
    def registries_with_content(self) -> frozenset[str]:
        """The registries with at least one approved image (one read for all of them)."""

    def approved_digests(self, registry: str) -> frozenset[str]:
        """The digests approved for ``registry`` (what a verdict "approved by import" would ask)."""
        return frozenset(image.digest for image in self.approved(registry))

    def approved_among(self, wanted: Collection[tuple[str, str]]) -> frozenset[tuple[str, str]]:
        """Which of the (registry, digest) pairs of ``wanted`` are approved content: the verdict asks
        this once for every image it judges.  Backends answer it without a query per image."""
        registries = {registry for registry, _ in wanted}
        approved = {registry: self.approved_digests(registry) for registry in registries}
        return frozenset((registry, digest) for registry, digest in wanted if digest in approved[registry])
