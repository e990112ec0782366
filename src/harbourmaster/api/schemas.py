"""Request and response bodies.

Each entity has a family: ``XCreate``, ``XUpdate`` (all optional) and
``XPublic``.  Secret fields exist only in ``XCreate``/``XUpdate`` (as
``SecretStr``), so no response model can carry one.  The ``XPublic`` models
services return are defined once in :mod:`harbourmaster.services.results` and
:mod:`harbourmaster.services.audit_results` (re-exported here); the API returns
them and the CLI prints them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from harbourmaster.domain.durations import MAX_TOKEN_LIFETIME
from harbourmaster.domain.model import (
    AdmissionMode,
    CredentialKind,
    EnvironmentKind,
    FailurePolicy,
    Provider,
    Role,
    Tier,
)
from harbourmaster.services.audit_results import AuditVerifyPublic, CheckpointKeyPublic, CheckpointPublic
from harbourmaster.services.document import ProviderFieldsSpec
from harbourmaster.services.results import (
    AccessPublic,
    ApplyPublic,
    BrowsePublic,
    ChangePublic,
    CredentialPublic,
    DecisionPublic,
    EnvironmentPublic,
    ExpiringCredentialPublic,
    GrantPublic,
    ImagePublic,
    PlatformImagePublic,
    ProbeFailurePublic,
    ProbeReportPublic,
    RegistryPublic,
    ResolvedImagePublic,
    TeamPublic,
    TierPublic,
    TlsPublic,
    TokenInfoPublic,
    UserPublic,
)

__all__ = [
    "AccessBody",
    "AccessPublic",
    "ApplyBody",
    "ApplyPublic",
    "AuditVerifyPublic",
    "BrowsePublic",
    "ChangePublic",
    "CheckBody",
    "CheckpointKeyPublic",
    "CheckpointPublic",
    "CredentialPublic",
    "DecisionPublic",
    "EnvironmentCreate",
    "EnvironmentPublic",
    "EnvironmentUpdate",
    "ExpiringCredentialPublic",
    "GrantBody",
    "GrantPublic",
    "HideAnonymousBody",
    "ImagePublic",
    "PlatformImagePublic",
    "ProbeFailurePublic",
    "ProbeReportPublic",
    "PullCredentialCreate",
    "PullCredentialPublic",
    "RegistryCreate",
    "RegistryPublic",
    "RegistryUpdate",
    "ResolvedImagePublic",
    "TeamCreate",
    "TeamPublic",
    "TierPublic",
    "TierUpdate",
    "TlsPublic",
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


class EnvironmentCreate(_Body):
    name: str
    kind: EnvironmentKind
    tier: Tier
    group: str | None = None
    namespaces: list[str] = Field(default_factory=list)
    hide_dockerhub_anonymous: bool = False
    admission: AdmissionMode = AdmissionMode.ENFORCE
    failure_policy: FailurePolicy | None = None


class EnvironmentUpdate(_Body):
    kind: EnvironmentKind | None = None
    tier: Tier | None = None
    group: str | None = None
    namespaces: list[str] | None = None
    hide_dockerhub_anonymous: bool | None = None
    admission: AdmissionMode | None = None
    failure_policy: FailurePolicy | None = None


class UserCreate(_Body):
    name: str
    role: Role = Role.TEAM_MEMBER


class TeamCreate(_Body):
    name: str
    members: list[str] = Field(default_factory=list)


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
    signers: list[str] | None = None
    signers_required: Literal["any", "all"] | None = None
    unscanned: Literal["block", "allow", "scan"] | None = None
    require_approved_content: bool | None = None


class HideAnonymousBody(_Body):
    hidden: bool
    environment: str | None = None


class CheckBody(_Body):
    environment: str = Field(examples=["prod-eu"])
    namespace: str | None = Field(default=None, examples=["payments"])
    user: str | None = None
    images: list[str] | None = Field(default=None, examples=[["harbor.corp/payments/api:1.4", "nginx:1.27"]])
    #: Kubernetes YAML or a compose file, instead of ``images``.
    content: str | None = None
    #: Pin allowed images to the digest their tag points to now (when the registry answers).
    resolve: bool = True
    #: Decide the image source only (registry, grant, tier rules): no vulnerability or signature part.
    source_only: bool = False














class ApplyBody(_Body):
    document: str
    dry_run: bool = False
    prune: bool = False


class TokenCreate(_Body):
    """A user's token (``user``), or a Kubernetes node's (``node`` and ``environment``)."""

    user: str | None = None
    #: A node token: the Kubernetes node's name; with ``environment``, instead of ``user``.
    node: str | None = Field(default=None, min_length=1, max_length=253)
    environment: str | None = Field(default=None, min_length=1, max_length=128)
    #: Default: "api" for a user's token, the node's name for a node token.
    name: str | None = Field(default=None, min_length=1, max_length=128)
    #: Default: 90 days.  At most 10 years: every token expires.
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_TOKEN_LIFETIME.days)


class TokenPublic(BaseModel):
    """The one response that carries a secret: the new token, for its owner, once."""

    id: int
    user: str | None
    name: str
    token: str
    expires_at: dt.datetime
    node: str | None = None
    environment: str | None = None


class PullCredentialCreate(_Body):
    """A kubelet's request for the credential of one pull."""

    image: str = Field(min_length=1, max_length=1024)
    #: The pod's projected service-account token for audience ``harbourmaster`` (a JWT).
    service_account_token: str = Field(min_length=1, max_length=16 * 1024, repr=False)


class PullCredentialPublic(BaseModel):
    """The registry credential for one pull: the only response besides a new token that carries a
    secret, given to the node that asked, once."""

    username: str
    password: str = Field(repr=False)
    #: Seconds the credential may be used for (a minted token's remaining life, or the short default).
    expires_in: int


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)
