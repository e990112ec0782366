"""``resolve``: the digest an image reference points to now, asked with the credential of the registry
granted for an environment (and a namespace or user), audited as ``resolve``.
"""

from __future__ import annotations

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.decision import Decision, Tenant, decide
from harbourmaster.domain.model import EnvironmentKind
from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput, Forbidden
from harbourmaster.registry import CredentialProvider, RegistryClientFactory, RegistryEndpoint, resolve_digest
from harbourmaster.services.audit_failures import failure_audited
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import authorise_environment, named_environment
from harbourmaster.services.registry_digests import remember_digest
from harbourmaster.services.registry_endpoints import OPERATION_OPTIONS, endpoint_for, provider_for, run_sync
from harbourmaster.services.results import ResolvedImagePublic

__all__ = ["ResolveRefused", "ResolvedImage", "resolve_image"]

#: The digest an image reference points to now, and through which granted registry.
ResolvedImage = ResolvedImagePublic


class ResolveRefused(Forbidden):
    """No registry granted on the environment matches the image, so its credentials may not be used."""

    kind = "resolve-refused"


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
    with failure_audited(hm, actor=actor, action="resolve", target=ref.normalized, details=details):
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
