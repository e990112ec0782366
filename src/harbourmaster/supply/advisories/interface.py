"""The advisory layer's interface: where advisories come from, how they are looked up, their value types.

An :class:`AdvisorySource` yields raw records one at a time (so a 200,000
record import holds one record in memory, not the whole export); :mod:`.osv`
parses each into an :class:`Advisory`.  An :class:`AdvisoryIndex` answers the
matcher's one question: which affected entries name these packages in this
ecosystem.  Backends: :mod:`.osv` (directories and ``all.zip`` exports),
:mod:`.memory` (in-process), and the index over harbourmaster's store
(:class:`harbourmaster.services.advisories.StoredAdvisoryIndex`).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.osv_ranges import CompiledAffected, OsvRange
from harbourmaster.domain.severity import Severity, SeverityRating
from harbourmaster.errors import BadInput, Error

__all__ = [
    "Advisory",
    "AdvisoryError",
    "AdvisoryIndex",
    "AdvisorySource",
    "AffectedPackage",
    "CompiledAdvisory",
    "InvalidAdvisory",
    "PackageKey",
    "RawRecord",
]

#: ``(ecosystem key, package name)``, e.g. ``("debian:12", "openssl")``; see :mod:`.ecosystems`.
PackageKey = tuple[str, str]


class AdvisoryError(Error):
    """Base of the advisory layer's errors."""

    kind = "advisory"


class InvalidAdvisory(AdvisoryError, BadInput):
    """A record (or a whole source) is malformed; the message names the file and the field."""

    kind = "advisory-invalid"

    def __init__(
        self, message: str, *, where: str, field: str | None = None, details: list[str] | None = None
    ) -> None:
        prefix = f"{where}: {field}: " if field else f"{where}: "
        super().__init__(prefix + message, details=details)
        self.where = where
        self.field = field


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record's bytes and where they came from (a file path, or ``ZIP!member``)."""

    where: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectedPackage:
    """One ``affected[]`` entry: a package in an ecosystem and the versions of it that are affected.

    ``ecosystem`` is as the record gives it (``"Ubuntu:22.04:LTS"``); ``ecosystem_key``
    its normalised form (``"ubuntu:22.04"``) and ``name`` the normalised package name.
    """

    ecosystem: str
    ecosystem_key: str
    name: str
    ranges: tuple[OsvRange, ...]
    versions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Advisory:
    """An OSV record as harbourmaster keeps it."""

    id: str
    modified: dt.datetime
    published: dt.datetime | None
    withdrawn: dt.datetime | None
    aliases: tuple[str, ...]
    summary: str
    severity: SeverityRating
    affected: tuple[AffectedPackage, ...]
    #: ``affected`` entries left out because their ecosystem has no version scheme here.
    unsupported: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CompiledAdvisory:
    """One affected entry of one advisory, compiled for matching."""

    advisory_id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    ecosystem: str
    compiled: CompiledAffected
    #: The ``fixed`` versions of the ranges (empty: no fix), and their sort keys (None: not comparable).
    #: The ranges themselves are not kept: caches hold many of these, and every object costs the
    #: cyclic collector time.
    fixes: tuple[str, ...] = ()
    fix_keys: tuple[Any, ...] = ()


class AdvisorySource(ABC):
    """Where an import reads records from."""

    #: What the source is, for messages and the import log (a path).
    description: str

    @abstractmethod
    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        """Yield each record's bytes in turn; a member that cannot even be read is yielded as the error.

        Raises:
            InvalidAdvisory: the source as a whole is unusable (not a zip, not a directory).
        """


class AdvisoryIndex(ABC):
    """What the matcher looks advisories up in."""

    @abstractmethod
    def candidates(self, keys: Collection[PackageKey]) -> Mapping[PackageKey, tuple[CompiledAdvisory, ...]]:
        """The affected entries (of advisories that are not withdrawn) for each ``(ecosystem key, name)``.

        An entry recorded for a whole distribution (``"debian"``, no release) is a candidate for
        every release of it.  Keys with none may be missing from the result.
        """
