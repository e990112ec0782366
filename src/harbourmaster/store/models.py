"""SQLAlchemy tables of the governance store.

Names are the identities of governance objects (the declarative file refers to
them by name), so tables are keyed by surrogate ids but unique on names.
Sealed secrets are opaque blobs produced by the vault; nothing here can read
them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "AccessRow",
    "AdvisoryAffectedRow",
    "AdvisoryMatchRow",
    "AdvisoryRow",
    "ApiTokenRow",
    "AuditRow",
    "Base",
    "EnvironmentRow",
    "GrantRow",
    "JobRow",
    "MetaRow",
    "NamespaceRow",
    "RegistryRow",
    "SbomComponentRow",
    "SbomImageNameRow",
    "SbomRow",
    "TeamMemberRow",
    "TeamRow",
    "TierPolicyRow",
    "UserRow",
    "VulnDbImportRow",
]


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON}


class RegistryRow(Base):
    __tablename__ = "registries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    provider: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(512))
    scope: Mapped[str | None] = mapped_column(String(255))
    oci_artifacts: Mapped[bool] = mapped_column(Boolean, default=False)
    declared_public: Mapped[bool] = mapped_column(Boolean, default=False)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    provider_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ca_bundle: Mapped[str | None] = mapped_column(Text)
    client_certificate: Mapped[str | None] = mapped_column(Text)
    client_key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    credential_kind: Mapped[str | None] = mapped_column(String(16))
    credential_username: Mapped[str | None] = mapped_column(String(255))
    credential_expires: Mapped[dt.date | None] = mapped_column(Date)
    credential_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    credential_updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: ``manage: true`` (migration 0015): the Harbor management settings; None: not managed.
    management: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class EnvironmentRow(Base):
    __tablename__ = "environments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(32))
    group: Mapped[str | None] = mapped_column("env_group", String(128))
    hide_dockerhub_anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    admission: Mapped[str | None] = mapped_column(String(16), default=None)
    failure_policy: Mapped[str | None] = mapped_column(String(16), default=None)
    namespaces: Mapped[list[NamespaceRow]] = relationship(
        back_populates="environment", cascade="all, delete-orphan", order_by="NamespaceRow.name"
    )


class NamespaceRow(Base):
    __tablename__ = "namespaces"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    environment: Mapped[EnvironmentRow] = relationship(back_populates="namespaces")


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(32))


class TeamRow(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)


class TeamMemberRow(Base):
    __tablename__ = "team_members"
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class AccessRow(Base):
    __tablename__ = "environment_access"
    __table_args__ = (UniqueConstraint("environment_id", "user_id", "team_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))


class GrantRow(Base):
    __tablename__ = "registry_grants"
    __table_args__ = (UniqueConstraint("registry_id", "environment_id", "namespace", "user_id", "team_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_id: Mapped[int] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    namespace: Mapped[str | None] = mapped_column(String(63))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))


class TierPolicyRow(Base):
    __tablename__ = "tier_policies"
    tier: Mapped[str] = mapped_column(String(32), primary_key=True)
    block_severity: Mapped[str] = mapped_column(String(16))
    advisory_severity: Mapped[str | None] = mapped_column(String(16))
    require_signature: Mapped[bool] = mapped_column(Boolean)
    ignore_unfixed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: What the verdict does with an unscanned image (None: the tier's default).
    unscanned: Mapped[str | None] = mapped_column(String(16), default=None)
    #: Admit only approved content (what an air-gap import recorded for the image's registry).
    require_approved_content: Mapped[bool] = mapped_column(Boolean, default=False)


class ImageScanRow(Base):
    """The latest vulnerability scan of one image digest: its findings as matched (nothing suppressed)."""

    __tablename__ = "image_scans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_digest: Mapped[str] = mapped_column(String(200), unique=True)
    image_name: Mapped[str] = mapped_column(String(512))
    scanned_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    components: Mapped[int] = mapped_column(Integer)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(32))


class MetaRow(Base):
    """Small key/value facts: settings, the model revision, the audit head."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)


class ApiTokenRow(Base):
    """A user's token, or a Kubernetes node's (migration 0012): never both."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint(
            "(user_id IS NOT NULL AND node IS NULL AND environment IS NULL)"
            " OR (user_id IS NULL AND node IS NOT NULL AND environment IS NOT NULL)",
            name="ck_api_tokens_owner",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: A node token's node name and the one environment it may ask pull credentials for.
    node: Mapped[str | None] = mapped_column(String(253))
    environment: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # Every token expires (migration 0005 gave the older unlimited ones 90 days).
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    time: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(512))
    result: Mapped[str] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class SbomRow(Base):
    """An SBOM kept for an image's life, as the document that was generated or fetched."""

    __tablename__ = "sboms"
    __table_args__ = (UniqueConstraint("image_digest", "format", "platform"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_digest: Mapped[str] = mapped_column(String(200), index=True)
    image_name: Mapped[str] = mapped_column(String(512))
    platform: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    distro: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(32))
    component_count: Mapped[int] = mapped_column(Integer)
    document: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class SbomComponentRow(Base):
    """One package of a stored SBOM, indexed by purl parts for correlation with advisories."""

    __tablename__ = "sbom_components"
    __table_args__ = (
        Index("ix_sbom_components_type_name", "purl_type", "name"),
        Index("ix_sbom_components_type_source", "purl_type", "source_package"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sbom_id: Mapped[int] = mapped_column(ForeignKey("sboms.id", ondelete="CASCADE"), index=True)
    purl: Mapped[str] = mapped_column(String(2048))
    purl_type: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str | None] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(512))
    version: Mapped[str] = mapped_column(String(256))
    source_package: Mapped[str | None] = mapped_column(String(512))
    source_version: Mapped[str | None] = mapped_column(String(256))
    distro: Mapped[str | None] = mapped_column(String(64))
    layer_digest: Mapped[str | None] = mapped_column(String(200))


class SbomImageNameRow(Base):
    """A registry repository (and tag) an image digest was seen under by an SBOM operation.

    Keyed by digest, not by stored SBOM: an SBOM is replaced when its image is seen again (under
    another repository too), and every name it was seen under is kept.  ``tag`` is ``""`` when
    the image was named by digest (a unique constraint treats NULLs as distinct).
    """

    __tablename__ = "sbom_image_names"
    __table_args__ = (UniqueConstraint("image_digest", "repository", "tag"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_digest: Mapped[str] = mapped_column(String(200), index=True)
    repository: Mapped[str] = mapped_column(String(512))
    tag: Mapped[str] = mapped_column(String(128))
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class AdvisoryRow(Base):
    """An OSV advisory as last imported; ``withdrawn`` ones are kept but never match."""

    __tablename__ = "advisories"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advisory_id: Mapped[str] = mapped_column(String(256), unique=True)
    modified: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    published: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    aliases: Mapped[list[str]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    severity_source: Mapped[str] = mapped_column(String(64))
    score: Mapped[float | None] = mapped_column(Float)
    import_id: Mapped[int] = mapped_column(Integer, index=True)


class AdvisoryAffectedRow(Base):
    """One ``affected[]`` entry of an advisory, indexed by ecosystem and package name for matching."""

    __tablename__ = "advisory_affected"
    __table_args__ = (Index("ix_advisory_affected_base_name", "ecosystem_base", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    advisory_pk: Mapped[int] = mapped_column(ForeignKey("advisories.id", ondelete="CASCADE"), index=True)
    ecosystem: Mapped[str] = mapped_column(String(128))
    ecosystem_base: Mapped[str] = mapped_column(String(64))
    ecosystem_key: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))
    ranges: Mapped[list[Any]] = mapped_column(JSON)
    versions: Mapped[list[str]] = mapped_column(JSON)


class VulnDbImportRow(Base):
    """One advisory import: where from, when, and what it changed."""

    __tablename__ = "vulndb_imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(1024))
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    records: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    unchanged: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[int] = mapped_column(Integer)
    skipped: Mapped[int] = mapped_column(Integer)
    problems: Mapped[list[str]] = mapped_column(JSON)


class AdvisoryMatchRow(Base):
    """A stored SBOM's package known to be affected by an advisory (continuous correlation)."""

    __tablename__ = "advisory_matches"
    __table_args__ = (UniqueConstraint("sbom_id", "advisory_id", "purl_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sbom_id: Mapped[int] = mapped_column(ForeignKey("sboms.id", ondelete="CASCADE"), index=True)
    advisory_id: Mapped[str] = mapped_column(String(256))
    purl: Mapped[str] = mapped_column(String(2048))
    purl_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(256))
    severity: Mapped[str] = mapped_column(String(16))
    first_seen: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    import_id: Mapped[int] = mapped_column(Integer)


class SigningKeyRow(Base):
    """A signing key in the vault: the public half, and the private half sealed by the master key."""

    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    algorithm: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(80))
    public_key_pem: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(256))


class SignatureVerificationRow(Base):
    """A cached verification verdict: per image digest and trust configuration fingerprint."""

    __tablename__ = "signature_verifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_digest: Mapped[str] = mapped_column(String(200), index=True)
    trust_fingerprint: Mapped[str] = mapped_column(String(64))
    satisfied: Mapped[bool] = mapped_column(Boolean)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    verified_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("image_digest", "trust_fingerprint"),)


class DeploymentRow(Base):
    """A deployment: where, for whom, the content and pinned images, its state (migration 0011)."""

    __tablename__ = "deployments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    environment: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    tenant: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(512))
    content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    verdict_id: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("environment", "tenant", "name", name="uq_deployments_place_name"),)


class JobRow(Base):
    """A background job: its kind and payload, its state and lease, its progress and outcome."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(256))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_message: Mapped[str | None] = mapped_column(String(512))
    result: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(256))
    #: A job queued again after a failed attempt is not claimed before this (migration 0018).
    run_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Claiming looks for the oldest queued (or lease-expired running) job.
    __table_args__ = (Index("ix_jobs_state_id", "state", "id"),)


class ApprovedContentRow(Base):
    """An image an air-gap import approved for a registry: its repository, digest and tags, and the
    bundle that carried it (migration 0013)."""

    __tablename__ = "approved_content"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # ``registry`` is taken on a declarative class (its mapper registry): the column keeps the name.
    registry_name: Mapped[str] = mapped_column("registry", String(128))
    repository: Mapped[str] = mapped_column(String(512))
    digest: Mapped[str] = mapped_column(String(128))
    tags: Mapped[list[str]] = mapped_column(JSON)
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    imported_by: Mapped[str] = mapped_column(String(256))
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("registry", "repository", "digest", name="uq_approved_content_image"),
    )


class RegistryTestRow(Base):
    """The last "test connection" result of a registry (migration 0016)."""

    __tablename__ = "registry_tests"
    registry_name: Mapped[str] = mapped_column("registry", String(128), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    tested_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    tested_by: Mapped[str] = mapped_column(String(255))
    ok: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[str] = mapped_column(Text)
    latency_ms: Mapped[float | None] = mapped_column(Float)


class WebSessionRow(Base):
    """A web UI session, known by the SHA-256 of its id (migration 0017)."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(255), index=True)
    token_id: Mapped[int | None] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_reason: Mapped[str | None] = mapped_column(String(64))


class ManagedRobotRow(Base):
    """One generation of a robot account on a managed Harbor, its secret sealed (migration 0015)."""

    __tablename__ = "managed_robots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    registry_name: Mapped[str] = mapped_column("registry", String(128))
    name: Mapped[str] = mapped_column(String(64))
    generation: Mapped[int] = mapped_column(Integer)
    access: Mapped[str] = mapped_column(String(8))
    harbor_id: Mapped[int] = mapped_column(Integer)
    harbor_name: Mapped[str] = mapped_column(String(255))
    project: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    retire_after: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    alerted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("registry", "name", "generation", name="uq_managed_robot_generation"),)
