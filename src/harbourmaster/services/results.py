"""What the governance and registry services return: one typed model per answer, the API's
``response_model`` and the CLI's ``--json``.

The JSON contract is written here once.  Each model is built from the domain
value it describes: ``XPublic.model_validate(value, from_attributes=True)``
where the model's fields are the value's attributes, ``XPublic.of(...)`` where
a conversion is needed.  Services return the model; routes return it as it is
and the CLI prints ``model_dump(mode="json")`` of the same model, so ``--json``
is the data the API returns.  The audit log's models are in
:mod:`harbourmaster.services.audit_results`, the SBOM and vulnerability
models in :mod:`harbourmaster.services.supply_results`.

No model here carries a secret: a credential shows only who it is for,
whether a secret is set and when it expires.  The one response that carries a
secret (a new API token, shown once) is ``api.schemas.TokenPublic``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harbourmaster.domain.model import Registry, RegistryGrant
from harbourmaster.domain.state import GovernanceState

if TYPE_CHECKING:  # services import this module: no cycle at run time
    from harbourmaster.registry.browse import ImageSummary

__all__ = [
    "AccessPublic",
    "ApplyPublic",
    "BrowsePublic",
    "ChangePublic",
    "ConnectionPublic",
    "CredentialPublic",
    "DecisionPublic",
    "DeploymentDecisions",
    "EnvironmentPublic",
    "ExpiringCredentialPublic",
    "GrantPublic",
    "ImagePublic",
    "JitReapPublic",
    "KeyRotationPublic",
    "PlatformImagePublic",
    "ProbeFailurePublic",
    "ProbeReportPublic",
    "ReapedSecretPublic",
    "RegistryPublic",
    "ResolvedImagePublic",
    "TeamPublic",
    "TierPublic",
    "TlsPublic",
    "TokenInfoPublic",
    "UserPublic",
    "json_of",
]


def json_of(result: BaseModel | Sequence[BaseModel]) -> Any:
    """The JSON data of a result (or a list of results), as the API serialises it."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return [r.model_dump(mode="json") for r in result]


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
    model_config = ConfigDict(from_attributes=True)

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
    #: ``manage: true``: harbourmaster manages this Harbor's project and robot accounts.
    managed: bool = False
    grants: list[GrantPublic] = Field(default_factory=list)

    @classmethod
    def of(cls, reg: Registry, *, state: GovernanceState, today: dt.date,
           grants: Sequence[RegistryGrant] | None = None) -> RegistryPublic:  # fmt: skip
        """``reg`` with its grants in ``state`` (``grants``: already picked out, for a list of many);
        its credential ``expired`` before ``today`` or not."""
        cred = reg.credential
        return cls(
            name=reg.name,
            provider=reg.provider.value,
            url=reg.url,
            host=reg.location.host,
            scope=reg.scope,
            public=reg.public,
            builtin=reg.builtin,
            oci_artifacts=reg.oci_artifacts,
            provider_fields=dict(reg.provider_fields),
            tls=TlsPublic(
                ca_bundle_set=reg.tls.ca_bundle is not None,
                client_certificate_set=reg.tls.client_certificate is not None,
                client_key_set=reg.tls.client_key_set,
                insecure=reg.tls.insecure,
            ),
            credential=None
            if cred is None
            else CredentialPublic(
                kind=cred.kind.value,
                username=cred.username,
                secret_set=cred.secret_set,
                expires=cred.expires.isoformat() if cred.expires else None,
                expired=cred.expired(today),
            ),
            hidden=state.hide_dockerhub_anonymous if reg.builtin else False,
            managed=reg.management is not None,
            grants=[GrantPublic.model_validate(g) for g in (
                grants if grants is not None else [g for g in state.grants if g.registry == reg.name])],
        )  # fmt: skip


# Each model below is its domain value's attributes (``model_validate(value)``, from attributes). The
# domain's enums are StrEnums, so ``kind``, ``tier`` and ``role`` validate as their values.


class ConnectionPublic(BaseModel):
    """How deployments reach an environment; its secrets only as whether they are set."""

    model_config = ConfigDict(from_attributes=True)

    endpoint: str | None = None
    api_server: str | None = None
    client_key_set: bool = False
    token_set: bool = False
    service_account_issuer: str | None = None


class EnvironmentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    kind: str
    tier: str
    group: str | None
    namespaces: list[str]
    hide_dockerhub_anonymous: bool
    admission: str = "enforce"
    failure_policy: str | None = None
    #: The failure policy the webhook configuration uses (the environment's, else the tier's).
    effective_failure_policy: str = "Ignore"
    connection: ConnectionPublic | None = None

    @field_validator("connection", mode="before")
    @classmethod
    def _configured_only(cls, value: object) -> object:
        """No connection configured reads as none."""
        return value if getattr(value, "configured", True) else None


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    role: str


class TeamPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    members: list[str]


class AccessPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    environment: str
    user: str | None = None
    team: str | None = None
    role: str


class TierPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    tier: str
    block_severity: str
    advisory_severity: str | None
    require_signature: bool
    ignore_unfixed: bool
    signers: list[str] = []
    signers_required: str = "any"
    unscanned: str = "block"
    require_approved_content: bool = False


class ChangePublic(BaseModel):
    """What a mutation did: the model's revision after it and a line per change."""

    model_config = ConfigDict(from_attributes=True)

    revision: int
    changes: list[str]


class ApplyPublic(BaseModel):
    """What ``apply`` did (``dry_run``: the changes were computed, not made)."""

    changes: list[str]
    applied: bool
    dry_run: bool
    revision: int


class VerdictPartPublic(BaseModel):
    """One part of the image policy verdict: whether it allows the image, its status and why.

    Statuses: source ``allowed``/``denied``; vulnerabilities ``pass``/``advisory``/``block``/
    ``unscanned``/``skipped``; signature ``verified``/``missing``/``invalid``/``unverified``/
    ``not-required``/``skipped``.  More fields per part (findings, signers, scan time) may follow.
    """

    model_config = ConfigDict(extra="allow")

    allowed: bool
    status: str
    reasons: list[str]


class VerdictPublic(BaseModel):
    """The image policy verdict's parts, and the tier and rules (by fingerprint) it was taken by."""

    tier: str | None
    policy_fingerprint: str | None
    source: VerdictPartPublic
    vulnerabilities: VerdictPartPublic
    signature: VerdictPartPublic


class DecisionPublic(BaseModel):
    """The decision on one image: ``allowed`` and ``reasons`` are the overall verdict (every part's
    reasons); ``verdict`` has the parts (None for a source-only decision)."""

    model_config = ConfigDict(from_attributes=True)

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
    verdict: VerdictPublic | None = None


class DeploymentDecisions(BaseModel):
    """A decision per image; for deployment content, also the services built locally (no image)."""

    decisions: list[DecisionPublic]
    build_only: list[str]


class ExpiringCredentialPublic(BaseModel):
    registry: str
    kind: str
    username: str
    expires: dt.date
    days_left: int
    expired: bool


class ReapedSecretPublic(BaseModel):
    namespace: str
    name: str
    #: When its window ended (Unix time, from its expiry label).
    expired_at: int


class JitReapPublic(BaseModel):
    """``jit reap``: the environment, its API server and the just-in-time Secrets deleted."""

    environment: str
    api_server: str
    deleted: list[ReapedSecretPublic]


class KeyRotationPublic(BaseModel):
    """``keys rotate``: the old and new master key ids and how many data keys were re-wrapped."""

    old_key_id: str
    new_key_id: str
    rewrapped: int
    #: Where the old key is kept (``--keep-retired``), or None: it was erased.
    retired_key_file: str | None = None


class TokenInfoPublic(BaseModel):
    """What may be known about a token (``GET /tokens``, ``token list``): never the token or its hash."""

    id: int
    #: The user the token acts as; None for a node token.
    user: str | None
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    expired: bool
    last_used_at: dt.datetime | None
    #: A node token's Kubernetes node and the environment it may ask pull credentials for.
    node: str | None = None
    environment: str | None = None


class ProbeFailurePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    message: str
    details: list[str]


class ProbeReportPublic(BaseModel):
    """``registry test``: how far a registry could be reached, trusted and authenticated."""

    model_config = ConfigDict(from_attributes=True)

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

    @classmethod
    def of(cls, summary: ImageSummary) -> ImagePublic:
        # Times as the registry gave them (isoformat, offset kept), not re-rendered.
        return cls(
            digest=summary.digest,
            media_type=summary.media_type,
            total_size=summary.total_size,
            created=summary.created.isoformat() if summary.created else None,
            platforms=[
                PlatformImagePublic(
                    platform=str(p.platform) if p.platform else None,
                    digest=p.digest,
                    media_type=p.media_type,
                    size=p.size,
                    created=p.created.isoformat() if p.created else None,
                )
                for p in summary.platforms
            ],
        )


class BrowsePublic(BaseModel):
    """``registry browse``: repositories, one repository's tags, or one image."""

    registry: str
    host: str
    repository: str | None = None
    reference: str | None = None
    repositories: list[str] | None = None
    tags: list[str] | None = None
    image: ImagePublic | None = None
    #: More repositories or tags exist than were listed.
    truncated: bool = False


class ResolvedImagePublic(BaseModel):
    image: str
    normalized: str
    environment: str
    tenant: str
    registry: str
    repository: str
    reference: str
    digest: str
