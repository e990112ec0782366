"""``registry browse``: the repositories of a registry (within its scope), a repository's tags, or an
image's digest, media type, platforms, size and created time, asked with the registry's stored credential.
"""

from __future__ import annotations

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Provider, Registry
from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput
from harbourmaster.registry import (
    CredentialProvider,
    NotFoundInRegistry,
    RegistryClientFactory,
    RegistryEndpoint,
    describe_image,
)
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import OPERATION_OPTIONS, endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_scope import named_registry, split_repository, within_scope
from harbourmaster.services.results import BrowsePublic, ImagePublic

__all__ = ["BrowseResult", "CatalogUnavailable", "browse"]

#: Registries known to have no ``/v2/_catalog``.
NO_CATALOG = frozenset({Provider.GHCR})
_CATALOG_SCAN = 10_000

#: What ``registry browse`` shows: repositories, one repository's tags, or one image.
BrowseResult = BrowsePublic


class CatalogUnavailable(BadInput):
    """The registry lists no repositories (no catalog endpoint): a repository must be named."""

    kind = "registry-no-catalog"


async def _browse(
    clients: RegistryClientFactory,
    registry: Registry,
    endpoint: RegistryEndpoint,
    provider: CredentialProvider,
    *,
    development_only: bool,
    repository: str | None,
    reference: str | None,
    limit: int,
) -> BrowseResult:
    base = BrowseResult(
        registry=registry.name, host=endpoint.host, repository=repository, reference=reference
    )
    async with clients.client(
        endpoint, provider=provider, options=OPERATION_OPTIONS, development_only=development_only
    ) as client:
        if repository is None:
            try:
                names = await client.catalog(limit=_CATALOG_SCAN)
            except NotFoundInRegistry:
                raise CatalogUnavailable(_no_catalog(registry)) from None
            scoped = [n for n in names if within_scope(registry, n)]
            return base.model_copy(update={"repositories": scoped[:limit], "truncated": len(scoped) > limit})
        if reference is None:
            tags = await client.tags(repository, limit=limit + 1)
            return base.model_copy(update={"tags": list(tags[:limit]), "truncated": len(tags) > limit})
        summary = await describe_image(client, repository, reference)
        return base.model_copy(update={"image": ImagePublic.of(summary)})


def _no_catalog(registry: Registry) -> str:
    return (
        f"registry {registry.name} ({registry.location.host}) has no catalog endpoint, so its "
        f"repositories cannot be listed; name one: browse {registry.name} REPOSITORY[:TAG]"
    )


def browse(
    hm: Harbourmaster,
    principal: Principal,
    name: str,
    repository: str | None = None,
    reference: str | None = None,
    *,
    limit: int = 1000,
) -> BrowseResult:
    """The repositories of registry ``name`` (within its scope), a repository's tags, or an
    image's digest, media type, platforms, total size and created time.

    ``repository`` may carry the reference (``team/app:v1``) when ``reference`` is None.

    Raises:
        Forbidden: ``principal`` may not browse registries.
        NotFound: no such registry.
        BadInput: a malformed or out-of-scope repository; a reference without a repository.
        CatalogUnavailable: no repository named and the registry has no catalog (GHCR).
        RegistryError: the registry failed (unreachable, refused, no such repository or tag...).
    """
    require(principal, Permission.REGISTRY_PROBE)
    registry = named_registry(hm, name)
    if reference is not None and not repository:
        raise BadInput("a reference (tag or digest) needs a repository")
    repo = None
    if repository:
        repo, embedded = split_repository(registry, repository)
        if reference is None:
            reference = embedded
        elif embedded is not None:
            raise BadInput(f"give the reference once: {repository!r} already names {embedded}")
        else:
            parse_reference(f"{registry.location.host}/{repo}{'@' if ':' in reference else ':'}{reference}")
    elif registry.provider in NO_CATALOG:
        raise CatalogUnavailable(_no_catalog(registry))
    actor = principal.audit_name
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="registry.browse")
    provider = provider_for(hm, registry, actor=actor, purpose="registry.browse")
    return run_sync(
        _browse(
            hm.registry_clients,
            registry,
            endpoint,
            provider,
            development_only=development_only,
            repository=repo,
            reference=reference,
            limit=limit,
        )
    )
