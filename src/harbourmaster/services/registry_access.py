"""The registry operations of the governance core: ``registry test``, ``registry browse``
and ``resolve``, each with the registry's stored credential.

Endpoints and credential providers come from
:mod:`harbourmaster.services.registry_endpoints`; digests for decisions from
:mod:`harbourmaster.services.registry_digests` (both re-exported here, so this
module is the one entry point for surfaces).
"""

from __future__ import annotations

from dataclasses import replace

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.decision import Decision, Tenant, decide
from harbourmaster.domain.model import EnvironmentKind, Provider, Registry
from harbourmaster.domain.reference import parse_reference
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.errors import BadInput, Error, Forbidden, NotFound
from harbourmaster.registry import (
    ClientOptions,
    CredentialProvider,
    InsecureTransportRefused,
    NotFoundInRegistry,
    ProbeFailure,
    ProbeReport,
    RegistryClientFactory,
    RegistryEndpoint,
    RegistryError,
    describe_image,
    probe,
    resolve_digest,
)
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import authorise_environment, named_environment
from harbourmaster.services.registry_digests import (
    clear_registry_caches,
    remember_digest,
    resolve_decision_digests,
)
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, registry_host, run_sync
from harbourmaster.services.results import BrowsePublic, ImagePublic, ProbeReportPublic, ResolvedImagePublic

__all__ = [
    "BrowseResult",
    "CatalogUnavailable",
    "ResolveRefused",
    "ResolvedImage",
    "authorise_environment",
    "browse",
    "clear_registry_caches",
    "endpoint_for",
    "provider_for",
    "registry_host",
    "resolve_decision_digests",
    "resolve_image",
    "run_sync",
    "test_registry",
]

OPERATION_OPTIONS = ClientOptions(connect_timeout=5.0, read_timeout=20.0, max_retries=1)
#: Registries known to have no ``/v2/_catalog``.
NO_CATALOG = frozenset({Provider.GHCR})
_CATALOG_SCAN = 10_000


class CatalogUnavailable(BadInput):
    """The registry lists no repositories (no catalog endpoint): a repository must be named."""

    kind = "registry-no-catalog"


class ResolveRefused(Forbidden):
    """No registry granted on the environment matches the image, so its credentials may not be used."""

    kind = "resolve-refused"


# -- registry test ----------------------------------------------------------------------------------


def _registry(hm: Harbourmaster, name: str) -> Registry:
    state = hm.state()
    reg = state.registry(name)
    if reg is None:
        known = (r.name for r in state.registries)
        raise NotFound(f"registry {name} is not defined{did_you_mean(name, known)}")
    return reg


def _within_scope(registry: Registry, repository: str) -> bool:
    scope = registry.location.scope
    return tuple(repository.split("/")[: len(scope)]) == scope



async def _probe(
    clients: RegistryClientFactory,
    registry: Registry,
    endpoint: RegistryEndpoint,
    provider: CredentialProvider,
    *,
    repository: str | None,
    development_only: bool,
) -> ProbeReport:
    report = await probe(
        endpoint, provider=provider, repository=repository, development_only=development_only, clients=clients
    )
    if repository is not None or not report.ok:
        return report
    # No repository named: find one in the registry's scope to learn whether it has the referrers API.
    async with clients.client(
        endpoint, provider=provider, options=OPERATION_OPTIONS, development_only=development_only
    ) as client:
        try:
            found = next((r for r in await client.catalog(limit=1000) if _within_scope(registry, r)), None)
            if found is not None:
                report = replace(report, referrers_api=await client.referrers_supported(found))
        except RegistryError:
            pass  # no catalog (GHCR), or listing forbidden: referrers support stays unknown
    return report


def test_registry(
    hm: Harbourmaster, principal: Principal, name: str, *, repository: str | None = None
) -> ProbeReportPublic:
    """Probe registry ``name`` with its stored credential: reachability, TLS, authentication,
    API version, referrers support and latency; audited as ``registry.test``.

    Registry-side failures are in the report, not raised.

    Raises:
        Forbidden: ``principal`` may not probe registries.
        NotFound: no such registry.
        BadInput: ``repository`` is malformed or outside the registry's scope; the
            credential has expired or does not fit the provider.
    """
    require(principal, Permission.REGISTRY_PROBE)
    registry = _registry(hm, name)
    repo = _split_repository(registry, repository)[0] if repository else None
    actor = principal.audit_name
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="registry.test")
    provider = provider_for(hm, registry, actor=actor, purpose="registry.test")
    try:
        report = run_sync(
            _probe(
                hm.registry_clients,
                registry,
                endpoint,
                provider,
                repository=repo,
                development_only=development_only,
            )
        )
    except InsecureTransportRefused as exc:
        report = ProbeReport(
            registry=endpoint.host, failures=(ProbeFailure(exc.kind, exc.message, tuple(exc.details)),)
        )
    public = ProbeReportPublic.of(report)
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=actor,
            action="registry.test",
            target=name,
            result="ok" if report.ok else "failed",
            details=public.model_dump(mode="json", exclude={"registry", "ok"}),
        )
    return public


test_registry.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


# -- browse -----------------------------------------------------------------------------------------


#: What ``registry browse`` shows: repositories, one repository's tags, or one image.
BrowseResult = BrowsePublic


def _split_repository(registry: Registry, text: str) -> tuple[str, str | None]:
    """``team/app``, ``team/app:v1`` or ``team/app@sha256:..`` (optionally with the host) ->
    (repository path, tag or digest or None).

    Raises:
        BadInput: not a repository name, or outside the registry's scope.
    """
    host = registry.location.host
    relative = text.removeprefix(f"{host}/")
    ref = parse_reference(f"{host}/{relative}")
    if ref.domain != host:
        raise BadInput(f"{text!r} is not a repository of registry {registry.name} ({host})")
    if not _within_scope(registry, ref.path):
        raise BadInput(
            f"repository {ref.path} is outside the scope {registry.scope} of registry {registry.name}"
        )
    return ref.path, ref.digest or ref.tag


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
            scoped = [n for n in names if _within_scope(registry, n)]
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
    registry = _registry(hm, name)
    if reference is not None and not repository:
        raise BadInput("a reference (tag or digest) needs a repository")
    repo = None
    if repository:
        repo, embedded = _split_repository(registry, repository)
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


# -- resolve ----------------------------------------------------------------------------------------


#: The digest an image reference points to now, and through which granted registry.
ResolvedImage = ResolvedImagePublic


def _granted_decision(
    hm: Harbourmaster, image: str, *, environment: str, namespace: str | None, user: str | None
) -> tuple[Decision, Tenant]:
    snapshot = hm.snapshot()
    env = named_environment(snapshot, environment)
    if namespace is not None and user is not None:
        raise BadInput("give either a namespace (Kubernetes) or a user (docker-standalone, swarm), not both")
    if namespace is not None or user is not None:
        tenants = [Tenant(namespace=namespace, user=user)]
    elif env.kind is EnvironmentKind.KUBERNETES:
        tenants = [Tenant(namespace=ns) for ns in env.namespaces]
    else:
        tenants = [Tenant(user=u) for u in sorted(snapshot.environment_users.get(environment, ()))]
    reasons: list[str] = []
    for tenant in tenants:
        (decision,) = decide(snapshot, environment=environment, tenant=tenant, images=[image])
        if decision.allowed and decision.registry is not None:
            return decision, tenant
        reasons.extend(r for r in decision.reasons if r not in reasons and r != "denied by default")
    who = tenants[0].describe() if len(tenants) == 1 else "any namespace or user"
    raise ResolveRefused(
        f"{image} cannot be resolved for environment {environment}: no registry granted to {who} "
        "there matches it, so no credential may be used",
        details=reasons,
    )


def resolve_image(
    hm: Harbourmaster,
    principal: Principal,
    image: str,
    *,
    environment: str,
    namespace: str | None = None,
    user: str | None = None,
) -> ResolvedImage:
    """The digest ``image`` points to now, asked with the credential of the registry granted
    for ``environment`` (and the namespace or user, if given); audited as ``resolve``.

    Without a namespace or user, any registry granted somewhere in the environment is used.
    An image given by digest resolves to that digest.

    Raises:
        Forbidden: ``principal`` may not resolve on this environment.
        BadInput: a malformed reference, or both a namespace and a user.
        NotFound: no such environment.
        ResolveRefused: no registry granted there matches the image.
        RegistryError: the registry failed (unreachable, refused, no such tag...).
    """
    authorise_environment(hm, principal, environment)
    ref = parse_reference(image)
    decision, tenant = _granted_decision(hm, image, environment=environment, namespace=namespace, user=user)
    assert decision.registry is not None
    registry = hm.snapshot().registries[decision.registry]
    actor = principal.audit_name
    reference = ref.digest or ref.tag or "latest"
    details: dict[str, object] = {
        "environment": environment,
        "tenant": tenant.describe(),
        "registry": registry.name,
        "image": ref.normalized,
    }
    try:
        if ref.digest is not None:
            digest: str = ref.digest
        else:
            endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="resolve")
            provider = provider_for(hm, registry, actor=actor, purpose="resolve")
            digest = run_sync(
                _resolve_one(hm.registry_clients, endpoint, provider, development_only, ref.path, reference)
            )
            remember_digest(
                registry=registry.name, host=endpoint.host, repository=ref.path, tag=reference, digest=digest
            )
    except Error as exc:
        with hm.store.transaction() as tx:
            tx.audit.append(
                actor=actor,
                action="resolve",
                target=ref.normalized,
                result="failed",
                details={**details, "error": exc.message},
            )
        raise
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=actor,
            action="resolve",
            target=ref.normalized,
            details={**details, "digest": digest},
        )
    return ResolvedImage(
        image=image,
        normalized=ref.normalized,
        environment=environment,
        tenant=tenant.describe(),
        registry=registry.name,
        repository=f"{ref.domain}/{ref.path}",
        reference=reference,
        digest=digest,
    )


async def _resolve_one(
    clients: RegistryClientFactory,
    endpoint: RegistryEndpoint,
    provider: CredentialProvider,
    development_only: bool,
    path: str,
    reference: str,
) -> str:
    async with clients.client(
        endpoint, provider=provider, options=OPERATION_OPTIONS, development_only=development_only
    ) as client:
        return str(await resolve_digest(client, path, reference))
