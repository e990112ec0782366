"""The store's interface: repositories over harbourmaster's database, the unit of work and base error.

A service operation opens one unit of work, :meth:`Store.transaction` (or
:meth:`Store.read`), which yields the :class:`Repositories` bound to that one
transaction: everything written through them, the operation's audit record
included, is committed together or not at all.  Services call repository
methods and never see a session or a query; nothing here names SQLAlchemy.

One repository per area: :class:`GovernanceRepository` (the model, its sealed
secrets, its revision and write lock), :class:`AuditRepository` (the hash
chain and the checkpoint signing key), :class:`SbomRepository` (stored SBOMs
and their purl index), :class:`TokenRepository` (API tokens),
:class:`AdvisoryRepository` (imported advisories and the images they were
found to affect), :class:`SigningRepository` (signing keys, cached verdicts)
:class:`JobRepository` (background jobs leased to workers) and :class:`ScanRepository` (the latest
vulnerability scan of each image digest, for the verdict).  The
SQLAlchemy implementation, serving SQLite and PostgreSQL, is
:class:`harbourmaster.store.sql.SqlStore`, with one module per repository
beside this one.  What the repositories take and give back is in
:mod:`harbourmaster.store.values`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from harbourmaster.domain.audit import AuditEntry
from harbourmaster.domain.state import GovernanceState
from harbourmaster.errors import Error
from harbourmaster.store.approved_content_interface import ApprovedContentRepository
from harbourmaster.store.deployment_interface import DeploymentRepository
from harbourmaster.store.job_interface import JobRepository
from harbourmaster.store.registry_test_interface import RegistryTestRepository
from harbourmaster.store.robot_interface import RobotRepository
from harbourmaster.store.scan_interface import ScanRepository
from harbourmaster.store.values import (
    AdvisoryMatch,
    AdvisoryRecord,
    AffectedEntry,
    AuditEvent,
    AuditFilter,
    BatchOutcome,
    CachedVerification,
    ImageMatch,
    ImageName,
    ImportSummary,
    IndexedComponent,
    SbomDocument,
    SbomImage,
    SealedBlobs,
    SealedUpdates,
    StoredComponent,
    StoredSbom,
    StoredSigningKey,
    StoredToken,
    VulnDbStatus,
)
from harbourmaster.store.web_session_interface import WebSessionRepository

__all__ = [
    "AdvisoryRepository",
    "AuditLogBroken",
    "AuditRepository",
    "GovernanceRepository",
    "Repositories",
    "Rewrap",
    "SbomRepository",
    "SigningRepository",
    "Store",
    "StoreError",
    "TokenRepository",
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
    def environment_secret(self, environment: str, field: str) -> bytes | None:
        """The sealed connection secret ``field`` (``client_key``, ``token``) of ``environment``, or None."""

    @abstractmethod
    def rewrap(self, rewrap: Rewrap) -> int:
        """Replace every registry's sealed blobs with ``rewrap(registry, field, blob)`` (``field`` is
        ``credential``, ``client_key`` or ``event_secret``) and every environment's connection secrets
        with ``rewrap("environment/NAME", field, blob)``; returns how many were replaced."""

    @abstractmethod
    def event_secret(self, registry: str) -> bytes | None:
        """The sealed secret that authenticates ``registry``'s event notifications, or None."""

    @abstractmethod
    def registries_with_event_secret(self) -> frozenset[str]:
        """The registries that hold an event-notification secret (one read for all of them)."""

    @abstractmethod
    def set_event_secret(self, registry: str, sealed: bytes | None) -> None:
        """Keep (None: drop) the sealed event-notification secret of ``registry``."""

    @abstractmethod
    def web_session_key(self) -> bytes | None:
        """The sealed key that signs web UI session cookies, or None (none made yet)."""

    @abstractmethod
    def claim_web_session_key(self, sealed: bytes, *, replacing: bytes | None) -> bytes:
        """Keep ``sealed`` as the web session key if the stored one is still ``replacing`` (None: none);
        the key stored afterwards: another process's when it made one first."""

    @abstractmethod
    def mirror_slot(self, name: str, *, schedule: str) -> dt.datetime | None:
        """The time (slot) whose job the scheduled mirror ``name`` last queued while its cron
        expression was ``schedule``; None when none was (or under another expression)."""

    @abstractmethod
    def claim_mirror_slot(
        self, name: str, *, schedule: str, previous: dt.datetime | None, slot: dt.datetime
    ) -> bool:
        """Record ``slot`` as the one scheduled mirror ``name`` (cron ``schedule``) last queued, if the
        recorded one is still ``previous`` (compare-and-set); False when another writer changed it
        first.  Claims are serialised across processes until the transaction ends, so a job queued in
        the same transaction is queued once per slot.  Slots of schedules the model no longer has are
        dropped when the model is saved."""


# -- audit --------------------------------------------------------------------------------------


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
    def entries_at(self, seqs: Sequence[int]) -> list[AuditEntry]:
        """The records with these sequence numbers that exist, in order (for checking a few records
        without reading the chain)."""

    @abstractmethod
    def head(self) -> tuple[int, str] | None:
        """``(seq, hash)`` of the newest record as kept beside the chain (None: nothing recorded)."""

    @abstractmethod
    def search(self, where: AuditFilter, *, limit: int) -> list[AuditEntry]:
        """At most ``limit`` records that ``where`` selects, newest first.

        Raises:
            AuditRecordError: a time bound of ``where`` has no time zone.
        """

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


class TokenRepository(ABC):
    """API tokens, kept as hashes, each belonging to a user or to a Kubernetes node."""

    @abstractmethod
    def create(
        self, *, user: str, name: str, token_hash: str, created_at: dt.datetime, expires_at: dt.datetime
    ) -> int | None:
        """Keep a new token for ``user``; its id, or None when there is no such user."""

    @abstractmethod
    def create_node(
        self,
        *,
        node: str,
        environment: str,
        name: str,
        token_hash: str,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> int:
        """Keep a new token for ``node`` of ``environment`` (checked by the caller); its id."""

    @abstractmethod
    def find(self, token_hash: str) -> StoredToken | None:
        """The token with that hash (this runs on every request)."""

    @abstractmethod
    def get(self, token_id: int) -> StoredToken | None:
        """The token with that id."""

    @abstractmethod
    def tokens(self, *, user: str | None = None) -> list[StoredToken]:
        """Every token (of ``user``: then no node token), oldest first."""

    @abstractmethod
    def touch(self, token_id: int, *, at: dt.datetime) -> None:
        """Record ``at`` as the token's last use."""

    @abstractmethod
    def revoke(self, token_id: int) -> None:
        """Mark the token revoked."""


# -- advisories ---------------------------------------------------------------------------------


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
    def affected_by_name(self, name: str) -> Iterator[AffectedEntry]:
        """The affected entries of the advisories that are not withdrawn whose id, or one of whose
        aliases, is ``name`` (case-insensitively): ``CVE-2021-44228`` finds its GHSA and distro records."""

    @abstractmethod
    def records(self, *, batch_size: int = 1000) -> Iterator[AdvisoryRecord]:
        """Every stored advisory, withdrawn ones too, with its affected entries, as :meth:`write_batch`
        took it; in id order, read ``batch_size`` advisories at a time (one batch in memory, never the
        whole database)."""

    @abstractmethod
    def add_matches(self, matches: Collection[AdvisoryMatch]) -> list[AdvisoryMatch]:
        """Record the matches whose ``(sbom, advisory, purl)`` is not recorded yet; returns those."""

    @abstractmethod
    def matches_since(self, since: dt.datetime) -> list[ImageMatch]:
        """Matches first seen at or after ``since``, oldest first, with their image."""


# -- signing ------------------------------------------------------------------------------------


class SigningRepository(ABC):
    """Signing keys kept in the vault (public half readable, private half sealed), and verification
    verdicts cached per image digest and trust configuration."""

    @abstractmethod
    def add_key(self, key: StoredSigningKey, *, sealed: bytes) -> bool:
        """Store ``key`` with its sealed private half; False when a key of that name exists."""

    @abstractmethod
    def list_keys(self) -> list[StoredSigningKey]:
        """Every signing key, by name."""

    @abstractmethod
    def sealed_key(self, name: str) -> tuple[StoredSigningKey, bytes] | None:
        """The key called ``name`` and its sealed private half, or None."""

    @abstractmethod
    def rewrap(self, rewrap: Rewrap) -> int:
        """Replace every sealed private key with ``rewrap(record, field, blob)``; returns how many."""

    @abstractmethod
    def cached(self, image_digest: str, trust_fingerprint: str) -> CachedVerification | None:
        """The cached verdict for ``image_digest`` under ``trust_fingerprint``, or None."""

    @abstractmethod
    def cached_many(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], CachedVerification]:
        """The cached verdicts of each ``(image_digest, trust_fingerprint)`` of ``keys`` that has one,
        read at once."""

    @abstractmethod
    def cache(self, verification: CachedVerification) -> None:
        """Keep ``verification`` (replacing one for the same digest and fingerprint)."""

    @abstractmethod
    def forget(self, image_digest: str) -> int:
        """Drop every cached verdict for ``image_digest`` (it was signed again); returns how many."""


# -- the unit of work ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Repositories:
    """The repositories of one unit of work, all bound to the same transaction."""

    governance: GovernanceRepository
    audit: AuditRepository
    sboms: SbomRepository
    tokens: TokenRepository
    advisories: AdvisoryRepository
    signing: SigningRepository
    jobs: JobRepository
    scans: ScanRepository
    deployments: DeploymentRepository
    approved_content: ApprovedContentRepository
    robots: RobotRepository
    registry_tests: RegistryTestRepository
    web_sessions: WebSessionRepository


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

    def watch_model(self, on_revision: Callable[[int | None], None]) -> ModelWatcher | None:
        """Report each new model revision to ``on_revision`` as it is saved (``None``: not known now),
        where the database announces them; None when it does not (the revision is then read per use)."""
        del on_revision
        return None


class ModelWatcher(Protocol):
    """A running :meth:`Store.watch_model`."""

    def stop(self, timeout: float | None = 5.0) -> None: ...
