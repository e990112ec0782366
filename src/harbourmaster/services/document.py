"""The declarative governance document (``kind: Governance``): schema and conversion.

Reading (:mod:`harbourmaster.services.document_reading`) collects *every*
problem with its path in the document (``registries[2].url: ...``) before
anything is written: the schema's, the values' and the references', in one
report.  Secrets are never inline: they are references
(``env:VAR``, ``file:/path``) resolved at apply time, and export omits them
(applying a credential without ``secret`` keeps the stored one).

The models below are the schema: ``harbourmaster schema`` prints their JSON
Schema and ``docs/governance.md`` documents each field from their docstrings.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from harbourmaster.domain.harbor_management import (
    DEFAULT_ALERT_DAYS,
    DEFAULT_ROBOT_LIFETIME_DAYS,
    DEFAULT_ROTATE_AT,
    RobotAccess,
)
from harbourmaster.domain.model import (
    AdmissionMode,
    CredentialKind,
    EnvironmentKind,
    FailurePolicy,
    Provider,
    Role,
    Tier,
)
from harbourmaster.domain.state import Violation
from harbourmaster.errors import BadInput

__all__ = [
    "API_VERSION",
    "DocumentInvalid",
    "GovernanceDocument",
    "MirrorSpec",
    "ProviderFieldsSpec",
    "RegistrySpec",
]

API_VERSION = "harbourmaster.io/v1"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

#: Provider-specific, non-secret fields and the providers they belong to.
PROVIDER_FIELDS: dict[str, frozenset[Provider]] = {
    "region": frozenset({Provider.ECR}),
    "account": frozenset({Provider.ECR}),
    "instance": frozenset({Provider.GITLAB}),
    "project": frozenset({Provider.GITLAB, Provider.GAR}),
    "organisation": frozenset({Provider.QUAY, Provider.GHCR}),
    "feed_url": frozenset({Provider.PROGET}),
    "tenant": frozenset({Provider.ACR}),
}


class DocumentInvalid(BadInput):
    """The governance document has problems; ``details`` lists each with its path."""

    def __init__(self, source: str, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__(
            f"{source}: {len(violations)} problem(s); nothing was written",
            details=[str(v) for v in violations],
        )


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class CredentialSpec(_Spec):
    """The credential harbourmaster uses to pull from (or push to) the registry."""

    kind: CredentialKind = CredentialKind.USER
    """``user`` (a person's account or token) or ``robot`` (a robot or service account, which must
    expire to be granted beyond the development tier)."""
    username: str = Field(min_length=1, max_length=255)
    """The user name the registry knows the credential by."""
    secret: str | None = None
    """A reference to the password or token: ``env:VAR`` or ``file:/path``, resolved by the CLI on
    its own host, never inline.  Omitted: keep the secret already stored."""
    expires: dt.date | None = None
    """The day the credential expires (YYYY-MM-DD); an expired credential is refused."""


class RobotAccountSpec(_Spec):
    """A CI robot account harbourmaster keeps on a managed Harbor: least privilege on the registry's
    project only, with an expiry, its secret kept in the vault and never shown."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    """The robot's name in Harbor (Harbor calls it ``robot$<project>+<name>``)."""
    access: RobotAccess = RobotAccess.PUSH
    """``pull`` or ``push`` (push includes pull) on the registry's project."""
    lifetime_days: int | None = Field(default=None, ge=-1, le=3650)
    """Days until it expires; -1: never (development-only registries).  Omitted: the management's
    ``robot_lifetime_days``."""
    description: str = Field(default="", max_length=255)
    """What the robot is for."""


class ManagementSpec(_Spec):
    """How harbourmaster manages a Harbor registry (``manage: true``)."""

    robot_lifetime_days: int = Field(default=DEFAULT_ROBOT_LIFETIME_DAYS, ge=-1, le=3650)
    """Days until each robot account expires; -1: never, refused while the registry is granted to a
    staging or production environment (D-08)."""
    rotate_at: float = Field(default=DEFAULT_ROTATE_AT, gt=0, lt=1)
    """Rotate each robot's secret when this fraction of its lifetime has passed."""
    alert_days: int = Field(default=DEFAULT_ALERT_DAYS, ge=0, le=365)
    """Alert (audit record, metric, webhook) when a robot expires within this many days."""
    robots: list[RobotAccountSpec] = Field(default_factory=list)
    """CI robots, beyond harbourmaster's own ``harbourmaster-pull`` and ``harbourmaster-push``."""


class TlsSpec(_Spec):
    """How the registry's TLS is trusted, and the client certificate it asks for."""

    ca_bundle: str | None = None
    """A CA bundle to trust instead of the system's: PEM text, or (CLI only) a path to a PEM file."""
    client_certificate: str | None = None
    """A client certificate: PEM text, or (CLI only) a path to a PEM file; needs ``client_key``."""
    client_key: str | None = None
    """A reference to the client certificate's key: ``env:VAR`` or ``file:/path``."""
    insecure: bool = False
    """Allow plain HTTP or unverified TLS; only for registries granted to development environments."""


class ProviderFieldsSpec(BaseModel):
    """Provider-specific, non-secret registry fields (see :data:`PROVIDER_FIELDS`); shared with the API."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    region: str | None = None
    """AWS region (provider ``ecr``), e.g. ``eu-west-1``."""
    account: str | None = None
    """AWS account id (provider ``ecr``), twelve digits: quote it in YAML."""
    instance: str | None = None
    """The GitLab instance (provider ``gitlab``)."""
    project: str | None = None
    """The GitLab project (provider ``gitlab``) or Google Cloud project (provider ``gar``)."""
    organisation: str | None = None
    """The organisation (providers ``quay`` and ``ghcr``)."""
    feed_url: str | None = None
    """The ProGet feed's URL (provider ``proget``)."""
    tenant: str | None = None
    """The Azure tenant (provider ``acr``)."""


class RegistrySpec(_Spec, ProviderFieldsSpec):
    """An approved registry: where it is, how to authenticate, and how its TLS is trusted."""

    name: str
    """The registry's name, used by grants and the allowlist: lowercase letters, digits, ``.``,
    ``_`` and ``-``, at most 128."""
    provider: Provider
    """Which registry product this is; it decides how harbourmaster authenticates."""
    url: str
    """The registry's address, ``https://host[:port]`` (``http://`` needs ``tls.insecure``)."""
    scope: str | None = None
    """Only images under this path match the registry (``payments`` for ``harbor.corp/payments/...``),
    at path-segment boundaries.  Omitted: the whole registry."""
    public: bool = False
    """A public registry (anyone may push): refused for staging and production environments."""
    oci_artifacts: bool = False
    """The registry stores OCI artifacts (SBOMs are attached to images there)."""
    credential: CredentialSpec | None = None
    """The credential to use.  Omitted: anonymous.  With ``manage: true``: the Harbor administrator's or
    project administrator's, used only for Harbor's API; pulls and pushes use the robot accounts."""
    tls: TlsSpec | None = None
    """TLS trust and client certificate.  Omitted: verified against the system's CAs."""
    manage: bool = False
    """``provider: harbor`` only: harbourmaster manages the Harbor project ``scope`` names, its
    security settings (from the tier policy) and its robot accounts (``harbor sync``)."""
    management: ManagementSpec | None = None
    """With ``manage: true``: robot lifetimes, rotation and CI robots.  Omitted: the defaults."""


class EnvironmentSpec(_Spec):
    """A deployment target: a Kubernetes cluster, a Docker host or a Swarm."""

    name: str
    """The environment's name: lowercase letters, digits, ``.``, ``_`` and ``-``, at most 128."""
    kind: EnvironmentKind
    """``kubernetes`` (registries are granted per namespace), ``docker-standalone`` or ``swarm``
    (granted to users and teams)."""
    tier: Tier
    """The tier decides the policy: public and insecure registries are refused beyond development,
    and each tier has its own vulnerability thresholds (``tiers``)."""
    group: str | None = None
    """A free-form label to group environments (a region, a business unit)."""
    namespaces: list[str] = Field(default_factory=list)
    """Kubernetes only: the namespaces registries can be granted to."""
    hide_dockerhub_anonymous: bool = False
    """Hide the built-in anonymous Docker Hub registry on this environment."""
    admission: AdmissionMode = AdmissionMode.ENFORCE
    """Kubernetes admission: ``enforce`` refuses a denied image; ``audit`` admits it with a warning
    and records the denial (to roll enforcement out)."""
    failure_policy: FailurePolicy | None = None
    """The admission webhook's ``failurePolicy`` (``Fail`` or ``Ignore``) when harbourmaster cannot
    answer.  Omitted: ``Fail`` on production, ``Ignore`` elsewhere."""
    endpoint: str | None = None
    """docker-standalone and swarm: the Docker Engine API harbourmaster deploys through,
    ``unix:///var/run/docker.sock`` or ``tcp://host:2376`` (TCP needs ``tls`` with a client
    certificate and key: the engine's API is root on its host)."""
    api_server: str | None = None
    """kubernetes: the API server harbourmaster deploys through, ``https://host[:port]``, with
    ``token`` (or a ``tls`` client certificate) and ``tls.ca_bundle``."""
    token: str | None = None
    """kubernetes: a reference (``env:VAR`` or ``file:/path``) to the bearer token for ``api_server``;
    kept in the vault, never shown.  Omitted with ``api_server`` unchanged: the stored one is kept."""
    tls: TlsSpec | None = None
    """TLS of the Docker Engine (``tcp://``) or the API server: CA bundle, client certificate, and the
    client key as a reference, kept in the vault (omitted: the stored one is kept)."""
    kubeconfig: str | None = None
    """kubernetes: a reference (``env:VAR`` or ``file:/path``) to a kubeconfig, read at apply time
    instead of ``api_server``, ``tls`` and ``token``: its context's cluster gives the API server and
    CA, its user the token (kept in the vault) or client certificate and key.  Exec and auth-provider
    credential plugins are refused."""
    kubeconfig_context: str | None = None
    """kubernetes: the kubeconfig's context to read; omitted: its ``current-context``."""
    service_account_issuer: str | None = None
    """kubernetes: the issuer (``iss``) of the cluster's service-account tokens, which the kubelet
    credential provider presents for each pull."""
    jwks: str | None = None
    """kubernetes: the issuer's public keys, a JWKS document (JSON text, or (CLI only) a path to the
    JSON file; the API server serves it at ``/openid/v1/jwks``)."""


class UserSpec(_Spec):
    """A person or automation account."""

    name: str
    """The user's name (letters, digits, ``@``, ``.``, ``_``, ``+``, ``-``)."""
    role: Role = Role.TEAM_MEMBER
    """What the user may do (see the README's trust model)."""


class TeamSpec(_Spec):
    """A team: users that are granted access together."""

    name: str
    """The team's name: lowercase letters, digits, ``.``, ``_`` and ``-``, at most 128."""
    members: list[str] = Field(default_factory=list)
    """The users in the team (each defined under ``users``)."""


class AccessSpec(_Spec):
    """Who may deploy to an environment: a user or a team (name exactly one)."""

    environment: str
    """The environment (defined under ``environments``)."""
    team: str | None = None
    """The team that gets access."""
    user: str | None = None
    """The user that gets access."""
    role: Role = Role.TEAM_MEMBER
    """The role on that environment."""


class GrantSpec(_Spec):
    """A registry granted on an environment: to namespaces (Kubernetes) or to teams and users."""

    registry: str
    """The registry (defined under ``registries``)."""
    environment: str
    """The environment (defined under ``environments``)."""
    namespaces: list[str] = Field(default_factory=list)
    """Kubernetes: the namespaces that may pull from the registry."""
    teams: list[str] = Field(default_factory=list)
    """Docker standalone and Swarm: teams that may pull (they need access to the environment)."""
    users: list[str] = Field(default_factory=list)
    """Docker standalone and Swarm: users that may pull (they need access to the environment)."""


class TierSpec(_Spec):
    """Overrides of a tier's policy; what is omitted keeps its current value."""

    block_severity: str | None = None
    """Findings at or above this severity block deployment (``critical``, ``high``, ``medium``,
    ``low``)."""
    advisory_severity: str | None = None
    """Findings at or above this severity (and below the block severity) are reported as advisory."""
    require_signature: bool | None = None
    """Images must be signed."""
    ignore_unfixed: bool | None = None
    """Findings without a fixed version do not count."""
    signers: list[str] | None = None
    """Trusted signers (names under ``signing``) whose signatures this tier accepts."""
    signers_required: Literal["any", "all"] | None = None
    """``any``: one of ``signers`` must have signed; ``all``: every one of them."""
    unscanned: Literal["block", "allow", "scan"] | None = None
    """What the verdict does with an image whose digest has no stored scan: ``block`` it, ``allow``
    it, or ``scan`` it at once (within ``HARBOURMASTER_VERDICT_SCAN_SECONDS``; denied when that fails)."""
    require_approved_content: bool | None = None
    """Admit only images whose digest is approved content of the registry they are pulled from (recorded
    by ``harbourmaster airgap import``); any other image is denied.  Kyverno and Gatekeeper cannot check
    this: ``policy export`` refuses them for an environment of such a tier."""


class AllowlistSpec(_Spec):
    """An accepted vulnerability: findings of this advisory do not block until it expires."""

    id: str
    """The advisory id: ``CVE-2024-1234``, ``GHSA-xxxx-xxxx-xxxx``, ``DSA-5678-1`` ..."""
    expires: dt.date
    """The last day the entry applies (YYYY-MM-DD)."""
    reason: str
    """Why the vulnerability is accepted (kept in the audit log)."""
    registry: str | None = None
    """Only for images from this registry.  Omitted: system-wide."""


class SigningKeySpec(_Spec):
    """A trusted public key (cosign's ``cosign.pub``)."""

    name: str
    """The signer's name, used by tiers' ``signers``."""
    public_key: str
    """The PEM ``PUBLIC KEY`` text, or (CLI only) ``file:/path`` to it."""


class KeylessIdentitySpec(_Spec):
    """A trusted keyless signer: Fulcio certificates from an OIDC issuer for matching identities."""

    name: str
    """The signer's name, used by tiers' ``signers``."""
    issuer: str
    """The OIDC issuer the certificate must name, e.g. ``https://token.actions.githubusercontent.com``."""
    subject_regex: str
    """A regular expression the certificate's identity (email, URI) must match in full."""


class NotationTrustStoreSpec(_Spec):
    """A Notation trust store: certificates that anchor Notation signatures."""

    name: str
    """The store's name; the trust policy refers to it as ``<type>:<name>``."""
    type: Literal["ca", "signingAuthority"] = "ca"
    """``ca`` (signing scheme notary.x509) or ``signingAuthority`` (notary.x509.signingAuthority)."""
    certificates: str
    """PEM certificates, or (CLI only) ``file:/path`` to them."""


class NotationSpec(_Spec):
    """Notation (Notary Project) verification: trust stores and the trust policy document."""

    trust_stores: list[NotationTrustStoreSpec] = Field(default_factory=list)
    """The trust stores the policy names."""
    trust_policy: str | None = None
    """The trust policy document (``trustpolicy.json``, version 1.0) as JSON text, or (CLI only)
    ``file:/path``; each policy's name is a signer name tiers may use."""


class SigningSpec(_Spec):
    """Whom harbourmaster trusts to sign images; replaced as a whole by each apply."""

    keys: list[SigningKeySpec] = Field(default_factory=list)
    """Trusted public keys."""
    identities: list[KeylessIdentitySpec] = Field(default_factory=list)
    """Trusted keyless identities (verified offline against ``trusted_root``)."""
    trusted_root: str | None = None
    """The sigstore trusted root (``trusted_root.json``) as JSON text, or (CLI only) ``file:/path``;
    required when identities are named."""
    notation: NotationSpec = Field(default_factory=NotationSpec)
    """Notation trust stores and trust policy."""


class SettingsSpec(_Spec):
    """Settings for every environment."""

    hide_dockerhub_anonymous: bool = False
    """Hide the built-in anonymous Docker Hub registry everywhere."""


class KindSelectorSpec(_Spec):
    """A Kubernetes kind: ``apiVersion`` exactly, or ``group/*`` for any version of the group."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )
    api_version: str = Field(alias="apiVersion")
    """``group/version`` (``example.com/v1``), or ``group/*`` for any version."""
    kind: str
    """The kind (``Widget``)."""


class ContentSpec(_Spec):
    """How deployment content (Kubernetes manifests, compose files) is read."""

    ignore_kinds: list[KindSelectorSpec] = Field(default_factory=list)
    """Kinds whose objects are not denied as "not understood" (their images are still checked)."""


class MirrorSpec(_Spec):
    """An ImageSet mirrored into a registry on a schedule: at each time its cron expression names, one
    ``mirror`` job is queued, as ``harbourmaster mirror -f IMAGESET --to REGISTRY [--tier TIER]``
    would.  A run missed (no ``serve`` running) is not caught up: the next one is at the next time."""

    name: str
    """The schedule's name: lowercase letters, digits, ``.``, ``_`` and ``-``, at most 128.  Its jobs
    are queued, and audited, as ``scheduler:<name>``."""
    image_set: str
    """The ImageSet to mirror: its YAML text, or (CLI only) ``file:/path`` to it, read when the
    document is applied.  The model keeps the text (export writes it inline)."""
    to: str
    """The registry to mirror into (defined under ``registries``)."""
    tier: Tier | None = None
    """Judge scans by this tier's thresholds.  Omitted: the strictest tier the target registry is
    granted to."""
    schedule: str
    """When to mirror: a cron expression of five fields (minute, hour, day of month, month, day of
    week), in UTC; ``"0 2 * * *"`` is every day at 02:00."""


class GovernanceDocument(_Spec):
    """The whole governance model, applied with ``harbourmaster apply -f FILE``."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
        title="harbourmaster governance document",
    )
    api_version: Literal["harbourmaster.io/v1"] = Field(alias="apiVersion")
    """Always ``harbourmaster.io/v1``."""
    kind: Literal["Governance"]
    """Always ``Governance``."""
    registries: list[RegistrySpec] = Field(default_factory=list)
    """Approved registries."""
    environments: list[EnvironmentSpec] = Field(default_factory=list)
    """Deployment targets, one tier each."""
    users: list[UserSpec] = Field(default_factory=list)
    """People and automation accounts."""
    teams: list[TeamSpec] = Field(default_factory=list)
    """Teams of users."""
    access: list[AccessSpec] = Field(default_factory=list)
    """Who may deploy to which environment."""
    grants: list[GrantSpec] = Field(default_factory=list)
    """Which registries each environment may pull from, and for whom."""
    tiers: dict[Tier, TierSpec] = Field(default_factory=dict)
    """Per-tier policy overrides, by tier (``development``, ``staging``, ``production``)."""
    settings: SettingsSpec = Field(default_factory=SettingsSpec)
    """Settings for every environment."""
    allowlist: list[AllowlistSpec] = Field(default_factory=list)
    """Accepted vulnerabilities, each with an expiry."""
    content: ContentSpec = Field(default_factory=ContentSpec)
    """How deployment content is read; replaced as a whole by each apply."""
    signing: SigningSpec = Field(default_factory=SigningSpec)
    """Trusted signers (keys, keyless identities, Notation policies); replaced as a whole by each apply."""
    mirrors: list[MirrorSpec] = Field(default_factory=list)
    """ImageSets mirrored into registries on a schedule (``serve`` queues the jobs)."""
