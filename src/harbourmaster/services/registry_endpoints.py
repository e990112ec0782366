"""From a governance :class:`~harbourmaster.domain.model.Registry` record to what the
registry client needs: an endpoint and a credential provider.

:func:`endpoint_for` builds the :class:`~harbourmaster.registry.RegistryEndpoint`
(host, scheme, CA bundle, client certificate with its key from the vault) and says
whether the registry is granted to development-tier environments only (plain HTTP
and unverified TLS are refused otherwise).  :func:`provider_for` maps the
registry's :class:`~harbourmaster.domain.model.Provider` to its adapter, with the
credential opened from the vault.  Every opening of a secret is audited
(``credential.use`` with a purpose); no secret is put in a result or an error.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar, assert_never

from harbourmaster.domain.decision import GovernanceSnapshot
from harbourmaster.domain.model import Provider, Registry, Tier
from harbourmaster.domain.reference import DEFAULT_DOMAIN
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput
from harbourmaster.registry import (
    Anonymous,
    ClientCertificate,
    ClientOptions,
    CredentialProvider,
    RegistryEndpoint,
    TransportSecurity,
    UsernamePassword,
)
from harbourmaster.registry.interface import RegistryCredentials
from harbourmaster.registry.providers import (
    Acr,
    DockerHub,
    Ecr,
    Gar,
    Ghcr,
    GitLab,
    Harbor,
    ProGet,
    Quay,
    ecr_region,
)
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import use_client_key, use_credential
from harbourmaster.services.token_states import record_token

__all__ = [
    "OPERATION_OPTIONS",
    "endpoint_for",
    "granted_beyond_development",
    "mint_credentials",
    "provider_for",
    "registry_host",
    "run_sync",
]

#: How ``registry test``, ``registry browse`` and ``resolve`` talk to a registry.
OPERATION_OPTIONS = ClientOptions(connect_timeout=5.0, read_timeout=20.0, max_retries=1)

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code (in a worker thread if a loop is running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def registry_host(registry: Registry) -> str:
    """The host (and port) the registry's API answers on; Docker Hub's is ``registry-1.docker.io``."""
    host = registry.location.host
    return "registry-1.docker.io" if host == DEFAULT_DOMAIN else host


_beyond_development: tuple[GovernanceSnapshot, frozenset[str]] | None = None


def granted_beyond_development(snapshot: GovernanceSnapshot) -> frozenset[str]:
    """The registries granted to some staging or production environment (computed once per snapshot)."""
    global _beyond_development
    cached = _beyond_development
    if cached is not None and cached[0] is snapshot:
        return cached[1]
    envs = snapshot.environments
    names: set[str] = set()
    for grants in (snapshot.namespace_grants, snapshot.user_grants):
        for (environment, _), registries in grants.items():
            env = envs.get(environment)
            if env is not None and env.tier is not Tier.DEVELOPMENT:
                names.update(registries)
    result = frozenset(names)
    _beyond_development = (snapshot, result)
    return result


def endpoint_for(
    hm: Harbourmaster,
    registry: Registry,
    *,
    actor: str,
    purpose: str = "registry.connect",
    development_only: bool | None = None,
) -> tuple[RegistryEndpoint, bool]:
    """The registry's endpoint, and whether it is granted to development-tier environments only
    (``development_only``, computed from the current snapshot unless the caller gives it).

    A client certificate's key is opened from the vault (audited, ``purpose``).

    Raises:
        BadInput: a client certificate is configured but no client key is stored.
        VaultError: the client key cannot be opened.
    """
    tls = registry.tls
    https = registry.location.scheme == "https"
    certificate = None
    if tls.client_certificate:
        key = use_client_key(hm, registry=registry, actor=actor, purpose=purpose)
        if key is None:
            raise BadInput(f"registry {registry.name} has a client certificate but no stored client key")
        certificate = ClientCertificate(certificate_pem=tls.client_certificate, private_key_pem=key)
    security = TransportSecurity(
        plain_http=not https,
        skip_verify=https and tls.insecure,
        ca_bundle_pem=tls.ca_bundle,
        client_certificate=certificate,
    )
    if development_only is None:
        development_only = registry.name not in granted_beyond_development(hm.snapshot())
    return RegistryEndpoint(registry_host(registry), security), development_only


def _adapter(
    registry: Registry, username: str, secret: Secret, fields: dict[str, str], region: str | None
) -> CredentialProvider:
    match registry.provider:
        case Provider.DOCKERHUB_ANONYMOUS:
            return Anonymous()
        case Provider.DOCKERHUB:
            return DockerHub(username, secret)
        case Provider.GHCR:
            return Ghcr(username, secret)
        case Provider.GITLAB:
            return GitLab(username, secret)
        case Provider.QUAY:
            return Quay(username, secret)
        case Provider.PROGET:
            return ProGet(secret)
        case Provider.HARBOR:
            # Robot accounts go through the Harbor adapter; a user with a CLI secret is plain Basic.
            if username.startswith("robot$"):
                return Harbor(username, secret)
            return UsernamePassword(username, secret)
        case Provider.ACR:
            return Acr(
                registry=registry_host(registry),
                tenant_id=fields["tenant"],
                client_id=username,
                client_secret=secret,
            )
        case Provider.ECR:
            assert region is not None
            return Ecr(access_key_id=username, secret_access_key=secret, region=region)
        case Provider.GAR:
            return Gar(secret)
        case Provider.CUSTOM:
            return UsernamePassword(username, secret)
        case _:
            assert_never(registry.provider)


def provider_for(hm: Harbourmaster, registry: Registry, *, actor: str, purpose: str) -> CredentialProvider:
    """The credential provider for ``registry``, with its secret opened from the vault (audited).

    A registry without a credential (and the built-in anonymous Docker Hub) is anonymous.

    Raises:
        BadInput: the provider's settings are incomplete (ACR tenant, ECR region), the
            credential does not fit the provider, or it has expired.
        ServiceAccountKeyError: a GAR credential is not a service-account key.
        VaultError: the secret cannot be opened.
    """
    if registry.provider is Provider.DOCKERHUB_ANONYMOUS or registry.credential is None:
        return Anonymous()
    fields = dict(registry.provider_fields)
    region = None
    if registry.provider is Provider.ACR and not fields.get("tenant"):
        raise BadInput(f"registry {registry.name}: an ACR registry needs its Entra ID tenant (tenant: ...)")
    if registry.provider is Provider.ECR:
        try:
            region = fields.get("region") or ecr_region(registry.location.host)
        except ValueError as exc:
            raise BadInput(f"registry {registry.name}: {exc}; set region: ...") from None
    use = use_credential(hm, registry=registry, actor=actor, purpose=purpose)
    if use is None:
        return Anonymous()
    try:
        return _adapter(registry, use.username, use.secret, fields, region)
    except ValueError as exc:
        # The adapters' messages name the user or region, never the secret.
        raise BadInput(f"registry {registry.name}: {exc}") from None


def mint_credentials(
    hm: Harbourmaster, registry: Registry, *, actor: str, purpose: str
) -> RegistryCredentials | None:
    """``registry``'s credential for one pull, opened from the vault (audited) and, for ECR, ACR and GAR,
    exchanged now for a short-lived token through the registry client's transport; None when the
    registry is pulled anonymously.

    Raises:
        BadInput / ServiceAccountKeyError / VaultError: as :func:`provider_for`.
        TokenExchangeFailed: the provider's identity endpoint refused or misbehaved.
    """
    provider = provider_for(hm, registry, actor=actor, purpose=purpose)
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose=purpose)

    async def mint() -> RegistryCredentials | None:
        async with hm.registry_clients.client(
            endpoint, provider=provider, development_only=development_only
        ) as client:
            return await client.credentials()

    minted = run_sync(mint())
    if minted is not None and registry.provider in _TOKEN_PROVIDERS:
        record_token(registry.name, minted.expires_at)
    return minted


#: The providers whose stored credential is exchanged for a short-lived token at each pull.
_TOKEN_PROVIDERS = frozenset({Provider.ECR, Provider.ACR, Provider.GAR})
