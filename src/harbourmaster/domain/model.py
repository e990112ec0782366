"""The governance model: registries, environments, identities and grants.

These are plain values.  The store persists them, the services validate
changes to them (see :mod:`harbourmaster.domain.rules`) and the decision
engine reads them through a :class:`~harbourmaster.domain.decision.GovernanceSnapshot`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum

from harbourmaster.domain.harbor_management import HarborManagement
from harbourmaster.domain.matching import RegistryLocation

__all__ = [
    "ANONYMOUS_DOCKERHUB",
    "ENVIRONMENT_SECRET_FIELDS",
    "PUBLIC_REGISTRY_HOSTS",
    "AccessEntry",
    "AllowlistEntry",
    "CredentialInfo",
    "CredentialKind",
    "Environment",
    "EnvironmentConnection",
    "EnvironmentKind",
    "Provider",
    "Registry",
    "RegistryGrant",
    "Role",
    "Team",
    "Tier",
    "TlsSettings",
    "User",
]


class Provider(StrEnum):
    DOCKERHUB = "dockerhub"
    DOCKERHUB_ANONYMOUS = "dockerhub-anonymous"
    ECR = "ecr"
    ACR = "acr"
    GAR = "gar"
    GITLAB = "gitlab"
    GHCR = "ghcr"
    QUAY = "quay"
    PROGET = "proget"
    HARBOR = "harbor"
    CUSTOM = "custom"


class EnvironmentKind(StrEnum):
    KUBERNETES = "kubernetes"
    DOCKER_STANDALONE = "docker-standalone"
    SWARM = "swarm"


class Tier(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class AdmissionMode(StrEnum):
    """What an admission webhook does with a denied image: refuse it, or admit it with a warning and
    record the denial (a rollout's first step)."""

    ENFORCE = "enforce"
    AUDIT = "audit"


class FailurePolicy(StrEnum):
    """What the Kubernetes API server does when the webhook cannot answer (its ``failurePolicy``)."""

    FAIL = "Fail"
    IGNORE = "Ignore"


class Role(StrEnum):
    ADMINISTRATOR = "administrator"
    PLATFORM_ENGINEER = "platform-engineer"
    TEAM_MEMBER = "team-member"
    AUDITOR = "auditor"


class CredentialKind(StrEnum):
    USER = "user"
    ROBOT = "robot"


#: Hosts that serve the public internet's images.  A registry on one of these
#: is public whatever its provider says (D-06 keeps them off staging and
#: production).  Self-hosted Quay, GitLab or Harbor instances are not public.
PUBLIC_REGISTRY_HOSTS: frozenset[str] = frozenset(
    {
        "docker.io",
        "ghcr.io",
        "quay.io",
        "registry.gitlab.com",
        "public.ecr.aws",
        "gcr.io",
        "mcr.microsoft.com",
        "registry.k8s.io",
        "k8s.gcr.io",
    }
)

#: Name of the built-in anonymous Docker Hub registry.
ANONYMOUS_DOCKERHUB = "dockerhub-anonymous"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How to reach a registry: CA bundle and client certificate (PEM text), or insecure."""

    ca_bundle: str | None = None
    client_certificate: str | None = None
    #: Whether a client key is held in the vault (the key itself never leaves it).
    client_key_set: bool = False
    #: Plain HTTP or unverified TLS; only allowed for development-tier use.
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """What may be known about a registry credential: everything but the secret."""

    kind: CredentialKind
    username: str
    expires: dt.date | None
    secret_set: bool

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today


@dataclass(frozen=True, slots=True)
class Registry:
    name: str
    provider: Provider
    url: str
    location: RegistryLocation
    oci_artifacts: bool = False
    #: Provider-specific, non-secret fields (ECR region and account, GitLab
    #: instance and project, Quay/GHCR organisation, ProGet feed URL).
    provider_fields: tuple[tuple[str, str], ...] = ()
    tls: TlsSettings = field(default_factory=TlsSettings)
    credential: CredentialInfo | None = None
    #: Marked public by the administrator (in addition to the known public hosts).
    declared_public: bool = False
    builtin: bool = False
    #: ``provider: harbor`` with ``manage: true``: harbourmaster manages its project and robot accounts,
    #: and ``credential`` is the Harbor API's (administrator or project administrator).
    management: HarborManagement | None = None

    @property
    def managed(self) -> bool:
        return self.management is not None

    @property
    def public(self) -> bool:
        return (
            self.declared_public
            or self.provider in (Provider.DOCKERHUB, Provider.DOCKERHUB_ANONYMOUS)
            or self.location.host in PUBLIC_REGISTRY_HOSTS
        )

    @property
    def scope(self) -> str | None:
        return "/".join(self.location.scope) or None

    @property
    def credential_origin(self) -> str:
        """The origin this registry's secrets are bound to, as a canonical string.

        It names everything that decides where a secret is sent and whom the
        connection trusts: scheme, host and port, path scope, provider and its
        fields (ECR region, ACR tenant, ProGet feed...), and the TLS trust
        settings (``insecure`` and the CA bundle's SHA-256).  The vault binds a
        sealed secret to it, so a secret entered for one origin cannot be opened
        for another, and a change to any part drops the stored secret.
        """
        ca = self.tls.ca_bundle
        return json.dumps(
            {
                "scheme": self.location.scheme,
                "host": self.location.host,
                "scope": list(self.location.scope),
                "provider": self.provider.value,
                "fields": dict(self.provider_fields),
                "insecure": self.tls.insecure,
                "ca_sha256": hashlib.sha256(ca.encode("utf-8")).hexdigest() if ca else None,
            },
            sort_keys=True,
            separators=(",", ":"),
        )


#: The secrets an environment's connection may hold in the vault (never in the model).
ENVIRONMENT_SECRET_FIELDS = ("client_key", "token")


@dataclass(frozen=True, slots=True)
class EnvironmentConnection:
    """How harbourmaster reaches an environment to deploy to.  Its secrets (the TLS client key, the
    API server token) stay in the vault: the model only says whether they are set."""

    #: docker-standalone and swarm: the Docker Engine API (``unix:///path`` or ``tcp://host:port``).
    endpoint: str | None = None
    #: kubernetes: the API server (``https://host[:port]``).
    api_server: str | None = None
    #: CA bundle and client certificate of the engine's or API server's TLS.
    tls: TlsSettings = field(default_factory=TlsSettings)
    #: kubernetes: whether a bearer token for the API server is held in the vault.
    token_set: bool = False
    #: kubernetes: the service-account token issuer (``iss``) and its public keys (JWKS JSON text).
    service_account_issuer: str | None = None
    jwks: str | None = None

    @property
    def configured(self) -> bool:
        return self != EnvironmentConnection()

    @property
    def origin(self) -> str | None:
        """What the connection's secrets are sealed for: a secret entered for one engine or API
        server never opens for another."""
        return self.endpoint or self.api_server

    @property
    def client_key_set(self) -> bool:
        return self.tls.client_key_set

    def secret_set(self, field_name: str) -> bool:
        return self.tls.client_key_set if field_name == "client_key" else self.token_set


@dataclass(frozen=True, slots=True)
class Environment:
    name: str
    kind: EnvironmentKind
    tier: Tier
    group: str | None = None
    namespaces: tuple[str, ...] = ()
    hide_dockerhub_anonymous: bool = False
    #: What admission does with a denied image here.
    admission: AdmissionMode = AdmissionMode.ENFORCE
    #: The webhook's failure policy; None: the tier's (Fail on production, Ignore elsewhere).
    failure_policy: FailurePolicy | None = None
    #: How deployments reach it (none configured: harbourmaster only decides, others deploy).
    connection: EnvironmentConnection = field(default_factory=EnvironmentConnection)

    @property
    def effective_failure_policy(self) -> FailurePolicy:
        """The failure policy the webhook configuration uses: the environment's, else the tier's."""
        if self.failure_policy is not None:
            return self.failure_policy
        return FailurePolicy.FAIL if self.tier is Tier.PRODUCTION else FailurePolicy.IGNORE


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role = Role.TEAM_MEMBER


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    members: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """A user or a team holds a role on an environment."""

    environment: str
    user: str | None = None
    team: str | None = None
    role: Role = Role.TEAM_MEMBER


@dataclass(frozen=True, slots=True)
class AllowlistEntry:
    """An accepted vulnerability: suppresses an advisory system-wide or for one registry, until it expires."""

    advisory: str
    expires: dt.date
    reason: str
    registry: str | None = None

    def active(self, today: dt.date) -> bool:
        return today <= self.expires

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.advisory, self.registry)


@dataclass(frozen=True, slots=True)
class RegistryGrant:
    """One registry granted to one namespace (Kubernetes) or one user or team (docker, swarm)."""

    registry: str
    environment: str
    namespace: str | None = None
    user: str | None = None
    team: str | None = None

    @property
    def grantee(self) -> str:
        if self.namespace is not None:
            return f"namespace {self.namespace}"
        if self.user is not None:
            return f"user {self.user}"
        return f"team {self.team}"
