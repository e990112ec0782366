"""Request and response bodies.

Each entity has a family: ``XCreate``, ``XUpdate`` (all optional) and
``XPublic``.  Secret fields exist only in ``XCreate``/``XUpdate`` (as
``SecretStr``), so no response model can carry one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from harbourmaster.domain.durations import MAX_TOKEN_LIFETIME
from harbourmaster.domain.model import CredentialKind, EnvironmentKind, Provider, Role, Tier
from harbourmaster.services.document import ProviderFieldsSpec

__all__ = [
    "AccessBody",
    "ApplyBody",
    "ApplyPublic",
    "AuditVerifyPublic",
    "BrowsePublic",
    "ChangePublic",
    "CheckBody",
    "CheckpointKeyPublic",
    "CheckpointPublic",
    "DecisionPublic",
    "EnvironmentCreate",
    "EnvironmentPublic",
    "EnvironmentUpdate",
    "ExpiringCredentialPublic",
    "GrantBody",
    "HideAnonymousBody",
    "ImagePublic",
    "PlatformImagePublic",
    "ProbeFailurePublic",
    "ProbeReportPublic",
    "RegistryCreate",
    "RegistryPublic",
    "RegistryUpdate",
    "ResolvedImagePublic",
    "TeamCreate",
    "TeamPublic",
    "TierPublic",
    "TierUpdate",
    "TokenCreate",
    "TokenInfoPublic",
    "TokenPublic",
    "UserCreate",
    "UserPublic",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CredentialCreate(_Body):
    kind: CredentialKind = CredentialKind.USER
    username: str = Field(min_length=1, max_length=255)
    secret: SecretStr | None = None
    expires: dt.date | None = None


class CredentialUpdate(_Body):
    kind: CredentialKind | None = None
    username: str | None = None
    #: Omitted: the stored secret is kept.
    secret: SecretStr | None = None
    expires: dt.date | None = None


class TlsBody(_Body):
    ca_bundle: str | None = None
    client_certificate: str | None = None
    client_key: SecretStr | None = None
    insecure: bool = False


class _RegistryFields(_Body, ProviderFieldsSpec):
    scope: str | None = None
    public: bool | None = None
    oci_artifacts: bool | None = None
    tls: TlsBody | None = None


class RegistryCreate(_RegistryFields):
    name: str
    provider: Provider
    url: str
    credential: CredentialCreate | None = None


class RegistryUpdate(_RegistryFields):
    provider: Provider | None = None
    url: str | None = None
    credential: CredentialUpdate | None = None


class CredentialPublic(BaseModel):
    kind: str
    username: str
    secret_set: bool
    expires: str | None
    expired: bool


class TlsPublic(BaseModel):
    ca_bundle_set: bool
    client_certificate_set: bool
    client_key_set: bool
    insecure: bool


class GrantPublic(BaseModel):
    registry: str
    environment: str
    namespace: str | None = None
    user: str | None = None
    team: str | None = None


class RegistryPublic(BaseModel):
    name: str
    provider: str
    url: str
    host: str
    scope: str | None
    public: bool
    builtin: bool
    oci_artifacts: bool
    provider_fields: dict[str, str]
    tls: TlsPublic
    credential: CredentialPublic | None
    hidden: bool = False
    grants: list[GrantPublic] = Field(default_factory=list)


class EnvironmentCreate(_Body):
    name: str
    kind: EnvironmentKind
    tier: Tier
    group: str | None = None
    namespaces: list[str] = Field(default_factory=list)
    hide_dockerhub_anonymous: bool = False


class EnvironmentUpdate(_Body):
    kind: EnvironmentKind | None = None
    tier: Tier | None = None
    group: str | None = None
    namespaces: list[str] | None = None
    hide_dockerhub_anonymous: bool | None = None


class EnvironmentPublic(BaseModel):
    name: str
    kind: str
    tier: str
    group: str | None
    namespaces: list[str]
    hide_dockerhub_anonymous: bool


class UserCreate(_Body):
    name: str
    role: Role = Role.TEAM_MEMBER


class UserPublic(BaseModel):
    name: str
    role: str


class TeamCreate(_Body):
    name: str
    members: list[str] = Field(default_factory=list)


class TeamPublic(BaseModel):
    name: str
    members: list[str]


class AccessBody(_Body):
    environment: str
    user: str | None = None
    team: str | None = None
    role: Role = Role.TEAM_MEMBER


class GrantBody(_Body):
    registry: str
    environment: str
    namespace: str | None = None
    user: str | None = None
    team: str | None = None


class TierUpdate(_Body):
    block_severity: str | None = None
    advisory_severity: str | None = None
    require_signature: bool | None = None
    ignore_unfixed: bool | None = None


class TierPublic(BaseModel):
    tier: str
    block_severity: str
    advisory_severity: str | None
    require_signature: bool
    ignore_unfixed: bool


class HideAnonymousBody(_Body):
    hidden: bool
    environment: str | None = None


class ChangePublic(BaseModel):
    revision: int
    changes: list[str]


class CheckBody(_Body):
    environment: str = Field(examples=["prod-eu"])
    namespace: str | None = Field(default=None, examples=["payments"])
    user: str | None = None
    images: list[str] | None = Field(default=None, examples=[["harbor.corp/payments/api:1.4", "nginx:1.27"]])
    #: Kubernetes YAML or a compose file, instead of ``images``.
    content: str | None = None
    #: Pin allowed images to the digest their tag points to now (when the registry answers).
    resolve: bool = True


class DecisionPublic(BaseModel):
    #: None only for deployment content that was not understood (always denied, with the reason).
    image: str | None
    normalized: str | None
    registry: str | None
    allowed: bool
    reasons: list[str]
    digest: str | None = None
    #: Why an allowed tag was not pinned to a digest (the registry did not answer, refused the
    #: credential ...); None when pinned, denied or not asked.
    digest_error: str | None = None
    source: str | None = None
    field_path: str | None = None
    #: Content only: how the image was found (``known`` place, ``fallback`` search), or ``not-understood``.
    extraction: str | None = None


class ProbeFailurePublic(BaseModel):
    kind: str
    message: str
    details: list[str]


class ProbeReportPublic(BaseModel):
    """``registry test``: how far a registry could be reached, trusted and authenticated."""

    registry: str
    ok: bool
    reachable: bool
    #: verified | unverified | plain-http | untrusted | not-tested
    tls: str
    tls_subject: str | None
    tls_issuer: str | None
    #: anonymous | basic | bearer | failed | not-tested
    authentication: str
    auth_realm: str | None
    api_version: str | None
    referrers_api: bool | None
    latency_ms: float | None
    failures: list[ProbeFailurePublic]


class PlatformImagePublic(BaseModel):
    platform: str | None
    digest: str
    media_type: str
    size: int
    created: str | None


class ImagePublic(BaseModel):
    digest: str
    media_type: str
    total_size: int
    created: str | None
    platforms: list[PlatformImagePublic]


class BrowsePublic(BaseModel):
    """``registry browse``: repositories, one repository's tags, or one image."""

    registry: str
    host: str
    repository: str | None
    reference: str | None
    repositories: list[str] | None
    tags: list[str] | None
    image: ImagePublic | None
    #: More repositories or tags exist than were listed.
    truncated: bool


class ResolvedImagePublic(BaseModel):
    image: str
    normalized: str
    environment: str
    tenant: str
    registry: str
    repository: str
    reference: str
    digest: str


class ApplyBody(_Body):
    document: str
    dry_run: bool = False
    prune: bool = False


class ApplyPublic(BaseModel):
    changes: list[str]
    applied: bool
    dry_run: bool
    revision: int


class ExpiringCredentialPublic(BaseModel):
    registry: str
    kind: str
    username: str
    expires: dt.date
    days_left: int
    expired: bool


class AuditVerifyPublic(BaseModel):
    """The chain (``count``, ``first_bad_seq``, ``problem``) and the server's checkpoint file
    (``checkpoint_*``) checked; ``ok`` only when both are."""

    ok: bool
    count: int
    first_bad_seq: int | None
    problem: str | None
    checkpoints: int
    checkpoints_checked: int
    checkpoint_problem: str | None
    checkpoint_sources: list[str]


class CheckpointPublic(BaseModel):
    """A signed audit checkpoint: record ``seq`` had hash ``head`` at ``time``.

    ``signature`` (base64) is Ed25519 by key ``key_id`` over the prefix
    ``harbourmaster audit checkpoint v1\\n`` and the canonical JSON of
    ``{head, key_id, seq, time}``."""

    type: str
    version: int
    seq: int
    head: str
    time: str
    key_id: str
    signature: str


class CheckpointKeyPublic(BaseModel):
    """The public key that checks checkpoint signatures; ``key_id`` is the SHA-256 of the raw key."""

    key_id: str
    algorithm: str
    pem: str


class TokenCreate(_Body):
    user: str
    name: str = Field(default="api", min_length=1, max_length=128)
    #: Default: 90 days.  At most 10 years: every token expires.
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_TOKEN_LIFETIME.days)


class TokenPublic(BaseModel):
    """The one response that carries a secret: the new token, for its owner, once."""

    id: int
    user: str
    name: str
    token: str
    expires_at: dt.datetime


class TokenInfoPublic(BaseModel):
    """What ``GET /tokens`` shows of a token: never the token or its hash."""

    id: int
    user: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    expired: bool
    last_used_at: dt.datetime | None


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)
