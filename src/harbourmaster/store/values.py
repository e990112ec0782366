"""The store's value types: what its repositories take and give back.

Plain frozen records (and the two mutable collections of sealed blobs a
governance save takes), one section per repository of
:mod:`harbourmaster.store.interface`.  They name no database: services may
import them, the SQL repositories build them from rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from harbourmaster.domain.authz import NodeRole
from harbourmaster.domain.findings import Finding
from harbourmaster.domain.model import Role
from harbourmaster.domain.severity import Severity

__all__ = [
    "SIGNING_KEY_FIELD",
    "AdvisoryMatch",
    "AdvisoryRecord",
    "AffectedEntry",
    "AffectedRecord",
    "AuditEvent",
    "AuditFilter",
    "BatchOutcome",
    "CachedVerification",
    "ImageMatch",
    "ImageName",
    "ImportSummary",
    "IndexedComponent",
    "JobState",
    "SbomDocument",
    "SbomImage",
    "SealedBlobs",
    "SealedUpdates",
    "StoredComponent",
    "StoredJob",
    "StoredSbom",
    "StoredScan",
    "StoredSigningKey",
    "StoredToken",
    "VulnDbStatus",
    "abandoned_error",
    "signing_key_record",
]


# -- governance ---------------------------------------------------------------------------------


@dataclass
class SealedUpdates:
    """Vault output to store with the new state: registry name -> sealed blob, or None to clear."""

    credentials: dict[str, bytes | None] = field(default_factory=dict)
    client_keys: dict[str, bytes | None] = field(default_factory=dict)
    #: (environment, field) -> sealed connection secret (``client_key``, ``token``).
    environment_secrets: dict[tuple[str, str], bytes | None] = field(default_factory=dict)


class SealedBlobs(NamedTuple):
    """A registry's sealed credential and TLS client key (opaque vault blobs; None: none stored)."""

    credential: bytes | None
    client_key: bytes | None


# -- audit --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing to record: who did what to what, with what result."""

    actor: str
    action: str
    target: str
    result: str = "ok"
    details: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which audit records to list: each field given narrows the list (all of them together).

    ``actor`` and ``result`` match exactly; ``action`` matches exactly or as a dotted prefix (``job``
    matches ``job.enqueued``); ``target`` matches as a substring; ``since``/``until`` bound the record's
    time (inclusive, exclusive; timezone-aware); ``before`` lists only records below that sequence number
    (the next page, newest first)."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    result: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: int | None = None


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


# -- tokens -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredToken:
    """An API token as stored: never the token, and its hash is not handed out either.

    A user's token has ``user`` and the user's ``role``; a node token has ``user`` None, ``role``
    :attr:`NodeRole.NODE`, and names its ``node`` and ``environment``."""

    id: int
    user: str | None
    role: Role | NodeRole
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    last_used_at: dt.datetime | None
    node: str | None = None
    environment: str | None = None


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


# -- signing ------------------------------------------------------------------------------------

#: The vault field a signing key's private half is sealed for (its record: :func:`signing_key_record`).
SIGNING_KEY_FIELD = "private_key"


def signing_key_record(name: str) -> str:
    """The vault record of signing key ``name`` (registry records are names, which have no ':')."""
    return f"signing-key:{name}"


@dataclass(frozen=True, kw_only=True)
class StoredSigningKey:
    """A signing key kept in the vault: its public half and who made it (the private half is sealed)."""

    name: str
    algorithm: str
    fingerprint: str
    public_key_pem: str
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True, kw_only=True)
class CachedVerification:
    """A verification verdict on an image digest under one trust configuration (by fingerprint)."""

    image_digest: str
    trust_fingerprint: str
    satisfied: bool
    result: dict[str, Any]
    verified_at: dt.datetime


@dataclass(frozen=True, kw_only=True)
class StoredScan:
    """The latest vulnerability scan of an image digest, as kept for the verdict: the findings as
    matched (nothing suppressed: the allowlist and the tier are applied when it is judged).

    ``origin`` says what was scanned: ``registry`` (an SBOM harbourmaster generated from the
    registry's layers) or ``stored-sbom`` (one it generated earlier and kept).
    """

    image_digest: str
    image_name: str
    scanned_at: dt.datetime
    components: int
    findings: tuple[Finding, ...]
    origin: str


# -- jobs ---------------------------------------------------------------------------------------


class JobState(StrEnum):
    """Where a background job is: waiting, leased to a worker, or done (either way)."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED)


@dataclass(frozen=True, kw_only=True)
class StoredJob:
    """A background job as stored: what to do (``kind``, ``payload``), who asked, and how far it got.

    ``attempts`` counts the claims (a worker that died mid-way used one up); ``error`` is the last
    attempt's error, kept when the job is queued again; ``run_after``: a job queued again after a failed
    attempt is not claimed before then (None: at once).
    """

    id: int
    kind: str
    payload: dict[str, Any]
    state: JobState
    attempts: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    progress: float
    progress_message: str | None
    result: Any
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    run_after: dt.datetime | None = None


def abandoned_error(*, owner: str | None, attempt: int, max_attempts: int, previous: str | None) -> str:
    """The error kept on a job whose worker stopped holding it (its lease expired)."""
    text = f"attempt {attempt} of {max_attempts} abandoned: the lease of worker {owner} expired"
    return f"{text}; before that: {previous}" if previous and attempt >= max_attempts else text
