"""The store's interface: repositories over harbourmaster's database, their value types and base error.

A service operation opens one unit of work, :meth:`Store.transaction` (or
:meth:`Store.read`), which yields the :class:`Repositories` bound to that one
transaction: everything written through them, the operation's audit record
included, is committed together or not at all.  Services call repository
methods and never see a session or a query; nothing here names SQLAlchemy.

One repository per area: :class:`GovernanceRepository` (the model, its sealed
secrets, its revision and write lock), :class:`AuditRepository` (the hash
chain and the checkpoint signing key), :class:`SbomRepository` (stored SBOMs
and their purl index), :class:`TokenRepository` (API tokens) and
:class:`AdvisoryRepository` (imported advisories and the images they were
found to affect).  The SQLAlchemy implementation, serving SQLite and
PostgreSQL, is :class:`harbourmaster.store.sql.SqlStore`, with one module per
repository beside this one.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harbourmaster.domain.audit import AuditEntry
from harbourmaster.domain.model import Role
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.state import GovernanceState
from harbourmaster.errors import Error

__all__ = [
    "AdvisoryMatch",
    "AdvisoryRecord",
    "AdvisoryRepository",
    "AffectedEntry",
    "AffectedRecord",
    "AuditEvent",
    "AuditLogBroken",
    "AuditRepository",
    "BatchOutcome",
    "GovernanceRepository",
    "ImageMatch",
    "ImageName",
    "ImportSummary",
    "IndexedComponent",
    "Repositories",
    "Rewrap",
    "SbomDocument",
    "SbomImage",
    "SbomRepository",
    "SealedBlobs",
    "SealedUpdates",
    "Store",
    "StoreError",
    "StoredComponent",
    "StoredSbom",
    "StoredToken",
    "TokenRepository",
    "VulnDbStatus",
]


class StoreError(Error):
    """The database cannot be reached, read or written (the message never carries bound values)."""

    kind = "store"
    status = 503


class AuditLogBroken(Error):
    """The audit chain cannot be extended: its newest record is missing."""

    kind = "audit-log-broken"
    status = 500

    @classmethod
    def newest_missing(cls, seq: object) -> AuditLogBroken:
        return cls(
            f"the audit log's newest record {seq} is missing; run 'harbourmaster "
            "audit verify' and restore the log before making changes"
        )


#: ``rewrap(record, field, sealed) -> sealed``: a sealed blob re-sealed (re-wrapped or re-bound).
Rewrap = Callable[[str, str, bytes], bytes]


# -- governance ---------------------------------------------------------------------------------


@dataclass
class SealedUpdates:
    """Vault output to store with the new state: registry name -> sealed blob, or None to clear."""

    credentials: dict[str, bytes | None] = field(default_factory=dict)
    client_keys: dict[str, bytes | None] = field(default_factory=dict)


class SealedBlobs(NamedTuple):
    """A registry's sealed credential and TLS client key (opaque vault blobs; None: none stored)."""

    credential: bytes | None
    client_key: bytes | None


class GovernanceRepository(ABC):
    """The governance model, its registries' sealed secrets, and its revision."""

    @abstractmethod
    def load(self) -> GovernanceState:
        """The model as stored."""

    @abstractmethod
    def save(self, state: GovernanceState, *, sealed: SealedUpdates | None = None) -> int:
        """Write ``state`` over the stored model (only the differences) and store the blobs in ``sealed``
        (None clears one); otherwise a registry without a credential or client key in ``state`` loses
        its blob.  Returns the new revision (the old one plus one)."""

    @abstractmethod
    def revision(self) -> int:
        """The model's revision: 0 before the first save, then one more per save."""

    @abstractmethod
    def lock(self) -> None:
        """Hold the model for writing until the transaction ends (a change reads the model, then writes
        the difference: two writers that read the same model would undo each other's change)."""

    @abstractmethod
    def sealed_blobs(self, registry: str) -> SealedBlobs:
        """``registry``'s sealed blobs (both None when there is no such registry)."""

    @abstractmethod
    def rewrap(self, rewrap: Rewrap) -> int:
        """Replace every registry's sealed blobs with ``rewrap(registry, field, blob)`` (``field`` is
        ``credential`` or ``client_key``); returns how many were replaced."""


# -- audit --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing to record: who did what to what, with what result."""

    actor: str
    action: str
    target: str
    result: str = "ok"
    details: Mapping[str, object] = field(default_factory=dict)


class AuditRepository(ABC):
    """The audit log (a hash chain, with its head kept beside it) and the sealed checkpoint signing key."""

    @abstractmethod
    def append_many(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        """Chain ``events`` in order after the newest record, holding the head until the transaction ends
        (concurrent writers extend the chain in turn); returns the records.

        Raises:
            AuditLogBroken: the chain's newest record is missing (the chain is never restarted over a gap).
        """

    def append(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        result: str = "ok",
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        """Append one record (see :meth:`append_many`)."""
        (entry,) = self.append_many([AuditEvent(actor, action, target, result, dict(details or {}))])
        return entry

    @abstractmethod
    def entries(self, *, after: int = -1, batch: int = 1000) -> Iterator[AuditEntry]:
        """Every record with a sequence number above ``after``, in order, read ``batch`` at a time
        (bounded memory); iterate inside the unit of work."""

    @abstractmethod
    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest record as kept beside the chain (None: nothing recorded)."""

    @abstractmethod
    def checkpoint_key(self) -> bytes | None:
        """The sealed checkpoint signing key, or None when none was made (or it was deleted).

        Raises:
            StoreError: what is stored is not a sealed key.
        """

    @abstractmethod
    def save_checkpoint_key(self, sealed: bytes) -> None:
        """Keep ``sealed`` (the vault's output) as the checkpoint signing key, replacing any other."""


# -- SBOMs --------------------------------------------------------------------------------------


class IndexedComponent(NamedTuple):
    """One package of an SBOM as indexed for correlation: purl parts, source package, distro, layer."""

    purl: str
    purl_type: str
    namespace: str | None
    name: str
    version: str
    source_package: str | None
    source_version: str | None
    distro: str | None
    layer_digest: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomDocument:
    """An SBOM to keep: the document exactly as it is to be served, and its packages' index entries."""

    image_digest: str
    image_name: str
    platform: str
    format: str
    distro: str | None
    origin: str
    document: str
    components: Sequence[IndexedComponent]


@dataclass(frozen=True, slots=True)
class StoredSbom:
    id: int
    image_digest: str
    image_name: str
    platform: str
    format: str
    distro: str | None
    origin: str
    component_count: int
    created_at: dt.datetime


class StoredComponent(NamedTuple):
    """An indexed package of a stored SBOM (the index entry without its layer)."""

    sbom_id: int
    purl: str
    purl_type: str
    namespace: str | None
    name: str
    version: str
    source_package: str | None
    source_version: str | None
    distro: str | None


class SbomImage(NamedTuple):
    sbom_id: int
    image_digest: str
    image_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageName:
    """A registry repository (``registry.example/team/app``) and tag an image digest was seen under
    (``tag`` None: named by digest), first and last."""

    repository: str
    tag: str | None
    first_seen: dt.datetime
    last_seen: dt.datetime

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


class SbomRepository(ABC):
    """SBOMs kept for their image's life, indexed by image digest and by component purl."""

    @abstractmethod
    def replace(self, sbom: SbomDocument, *, created_at: dt.datetime) -> StoredSbom:
        """Keep ``sbom`` and index its components, replacing (with its index) an earlier one for the
        same image digest, format and platform."""

    @abstractmethod
    def stored(self, *, image_digest: str | None = None) -> list[StoredSbom]:
        """The stored SBOMs (of one image digest), newest first."""

    @abstractmethod
    def newest(self, *, image_digest: str, format: str | None = None) -> tuple[StoredSbom, str] | None:
        """The newest SBOM stored for ``image_digest`` (in ``format``), with its document."""

    @abstractmethod
    def document(self, sbom_id: int) -> str | None:
        """The document of stored SBOM ``sbom_id``."""

    @abstractmethod
    def indexed(self, sbom_id: int) -> list[IndexedComponent]:
        """The index entries of stored SBOM ``sbom_id``, in the order they were kept."""

    @abstractmethod
    def components(
        self, purl_type: str, name: str, *, namespace: str | None = None, source_package: str | None = None
    ) -> list[StoredComponent]:
        """Indexed components of type ``purl_type`` named ``name`` (in ``namespace`` when given) and,
        with ``source_package``, those built from that source package; each component once."""

    @abstractmethod
    def images(self, sbom_ids: Collection[int]) -> list[SbomImage]:
        """The image digest and name of each stored SBOM in ``sbom_ids``."""

    @abstractmethod
    def record_name(
        self, *, image_digest: str, repository: str, tag: str | None, seen_at: dt.datetime
    ) -> None:
        """Record that ``image_digest`` was seen in registry ``repository`` under ``tag`` (None: by
        digest) at ``seen_at``."""

    @abstractmethod
    def names(self, image_digests: Collection[str]) -> dict[str, list[ImageName]]:
        """Every registry repository and tag each of ``image_digests`` was seen under, by repository
        then tag; a digest never seen under a name is absent."""


# -- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredToken:
    """An API token as stored: never the token, and its hash is not handed out either."""

    id: int
    user: str
    role: Role
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    last_used_at: dt.datetime | None


class TokenRepository(ABC):
    """API tokens, kept as hashes, each belonging to a user."""

    @abstractmethod
    def create(
        self, *, user: str, name: str, token_hash: str, created_at: dt.datetime, expires_at: dt.datetime
    ) -> int | None:
        """Keep a new token for ``user``; its id, or None when there is no such user."""

    @abstractmethod
    def find(self, token_hash: str) -> StoredToken | None:
        """The token with that hash (this runs on every request)."""

    @abstractmethod
    def get(self, token_id: int) -> StoredToken | None:
        """The token with that id."""

    @abstractmethod
    def tokens(self, *, user: str | None = None) -> list[StoredToken]:
        """Every token (of ``user``), oldest first."""

    @abstractmethod
    def touch(self, token_id: int, *, at: dt.datetime) -> None:
        """Record ``at`` as the token's last use."""

    @abstractmethod
    def revoke(self, token_id: int) -> None:
        """Mark the token revoked."""


# -- advisories ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AffectedRecord:
    """One ``affected[]`` entry to keep, with its ecosystem as given, its key and the key's base
    (``"Debian:12"``, ``"debian:12"``, ``"debian"``); ``ranges`` are OSV JSON."""

    ecosystem: str
    ecosystem_key: str
    ecosystem_base: str
    name: str
    ranges: list[dict[str, Any]]
    versions: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdvisoryRecord:
    """An advisory to keep (it replaces a stored one with the same id only when ``modified`` is newer)."""

    id: str
    modified: dt.datetime
    published: dt.datetime | None
    withdrawn: dt.datetime | None
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    severity_source: str
    score: float | None
    affected: tuple[AffectedRecord, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchOutcome:
    """What writing a batch did; ``changed`` holds the row ids of the inserted and updated advisories."""

    inserted: int
    updated: int
    unchanged: int
    withdrawn: int
    changed: Sequence[int]


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportSummary:
    """What an import did, for the import log."""

    finished_at: dt.datetime
    records: int
    inserted: int
    updated: int
    unchanged: int
    withdrawn: int
    skipped: int
    problems: Sequence[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class VulnDbStatus:
    advisories: int
    withdrawn: int
    per_ecosystem: dict[str, int]
    imports: int
    last_import: dt.datetime | None
    newest_modified: dt.datetime | None


class AffectedEntry(NamedTuple):
    """A stored affected entry of an advisory that is not withdrawn, with its advisory's facts."""

    advisory_id: str
    aliases: list[str]
    summary: str
    severity: Severity
    ecosystem: str
    ecosystem_key: str
    name: str
    ranges: list[Any]
    versions: list[str]


class AdvisoryMatch(NamedTuple):
    """A stored SBOM's package found affected by an advisory (``purl_hash`` keys the purl)."""

    sbom_id: int
    advisory_id: str
    purl: str
    purl_hash: str
    version: str
    severity: Severity
    first_seen: dt.datetime
    import_id: int


class ImageMatch(NamedTuple):
    """A recorded match with its image."""

    image_digest: str
    image_name: str
    match: AdvisoryMatch


class AdvisoryRepository(ABC):
    """Imported advisories (looked up by ecosystem and package name, or by row id) and the stored SBOMs'
    packages found affected by them."""

    @abstractmethod
    def begin_import(self, *, source: str, actor: str, started_at: dt.datetime) -> int:
        """Log a new import; its id (stamped on every advisory it writes)."""

    @abstractmethod
    def write_batch(self, import_id: int, advisories: Sequence[AdvisoryRecord]) -> BatchOutcome:
        """Insert the new advisories (ids unique within the batch), replace the stored ones whose
        ``modified`` is older, leave the others."""

    @abstractmethod
    def finish_import(self, import_id: int, summary: ImportSummary) -> None:
        """Record what the import did."""

    @abstractmethod
    def status(self) -> VulnDbStatus:
        """Counts per ecosystem (advisories that are not withdrawn), the last import and the newest record."""

    @abstractmethod
    def generation(self) -> int | None:
        """The newest import's id: it changes whenever an import may have changed the advisories."""

    @abstractmethod
    def affected(self, base: str, names: Collection[str]) -> Iterator[AffectedEntry]:
        """The affected entries naming ``names`` in ecosystem base ``base`` (``"debian"``: every release
        of it), of advisories that are not withdrawn."""

    @abstractmethod
    def affected_by_id(self, advisory_ids: Sequence[int]) -> Iterator[AffectedEntry]:
        """The affected entries of the advisories with row ids ``advisory_ids`` (as
        :attr:`BatchOutcome.changed` gives them) that are not withdrawn."""

    @abstractmethod
    def add_matches(self, matches: Collection[AdvisoryMatch]) -> list[AdvisoryMatch]:
        """Record the matches whose ``(sbom, advisory, purl)`` is not recorded yet; returns those."""

    @abstractmethod
    def matches_since(self, since: dt.datetime) -> list[ImageMatch]:
        """Matches first seen at or after ``since``, oldest first, with their image."""


# -- the unit of work ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repositories:
    """The repositories of one unit of work, all bound to the same transaction."""

    governance: GovernanceRepository
    audit: AuditRepository
    sboms: SbomRepository
    tokens: TokenRepository
    advisories: AdvisoryRepository


class Store(ABC):
    """Where harbourmaster keeps its state; every service operation is one unit of work on it."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Repositories]:
        """One write transaction: committed when the block ends, rolled back on any error.

        Raises:
            StoreError: the database failed.
        """

    @abstractmethod
    def read(self) -> AbstractContextManager[Repositories]:
        """A read-only unit of work (it runs beside writers and writes nothing).

        Raises:
            StoreError: the database failed.
        """
