"""Pull credentials for the kubelet credential provider: one registry credential per pull, given to a
node only for an image the verdict allows in the pod's namespace.

A node's kubelet asks with its node token (principal role ``node``, bound to one Kubernetes
environment) and the pod's projected service-account token for audience ``harbourmaster``.  The token
is verified offline against the environment's JWKS (:mod:`harbourmaster.deploy.kubernetes.sa_tokens`);
its namespace must be one of the environment's.  The verdict is then asked for that namespace by
:func:`~harbourmaster.services.decisions.check_images` *as the node itself*: the node role carries
``decision.check`` on its own environment only, so the decision is audited under the node's name and
no broader principal is borrowed.  A denied image, or a namespace without a grant of the image's
registry, gets no credential.

The credential is the registry's, opened from the vault (audited ``credential.use``) and, for ECR,
ACR and GAR, exchanged for a short-lived token minted now.  Its lifetime is the shortest the registry
allows: a minted token's remaining life, else ``HARBOURMASTER_PULL_CREDENTIAL_SECONDS``.  An anonymous
registry needs no credential (:class:`NoCredentialNeeded`, 404); the plugin then answers the kubelet
with no auth.

Every issue and refusal is audited as ``pull-credentials.issue`` with the node, namespace, service
account, image, digest, registry and the credential's user name; the password is in the returned
:class:`PullCredential` only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Final

from harbourmaster.deploy.kubernetes.sa_tokens import (
    BoundServiceAccountToken,
    IssuerKeys,
    verify_service_account_token,
)
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.exports.credential_provider_config import (
    TOKEN_AUDIENCE,
    CredentialProviderSettings,
    credential_provider_config,
)
from harbourmaster.domain.model import Environment, EnvironmentKind, Registry
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Conflict, Error, Forbidden, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import pull_credential_info
from harbourmaster.services.decisions import check_images
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.registry_endpoints import mint_credentials

__all__ = ["ACTION", "NoCredentialNeeded", "PullCredential", "issue_pull_credential", "kubelet_config"]

ACTION: Final = "pull-credentials.issue"
_PURPOSE: Final = "pull-credentials"


class NoCredentialNeeded(NotFound):
    """The image's registry is pulled anonymously: there is no credential to give."""

    kind = "no-credential-needed"


@dataclass(frozen=True, slots=True, kw_only=True)
class PullCredential:
    """A registry credential for one pull and how long it may be used (seconds from now)."""

    registry: str
    username: str
    password: Secret = field(repr=False)
    expires_in: int


def issue_pull_credential(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    image: str,
    service_account_token: Secret,
) -> PullCredential:
    """The registry credential a node's kubelet may pull ``image`` with, for the pod whose
    service-account token is ``service_account_token``; audited, refusals included.

    Raises:
        Forbidden: ``principal`` is not a node of ``environment``; the token's namespace is not one
            of the environment's; the verdict denies the image there (the reasons in ``details``).
        NotFound: no such environment.
        Conflict: the environment is not Kubernetes, or has no service-account issuer or JWKS.
        ServiceAccountTokenError: (401) the service-account token was refused (which check failed).
        JwksError: the environment's JWKS is not usable.
        NoCredentialNeeded: (404) the image's registry is anonymous.
        BadInput: a malformed image reference; the registry's credential expired or does not fit.
        RegistryError / VaultError: the credential could not be opened or minted.
    """
    require(principal, Permission.PULL_CREDENTIALS)
    facts: dict[str, Any] = {"node": principal.node, "environment": environment, "image": image}
    try:
        credential = _issue(hm, principal, environment, image, service_account_token, facts)
    except Error as exc:
        _audit(hm, principal, facts, result="refused", reason=exc.message)
        raise
    _audit(hm, principal, facts, result="ok", reason=None)
    return credential


def _issue(
    hm: Harbourmaster,
    principal: Principal,
    environment: str,
    image: str,
    token: Secret,
    facts: dict[str, Any],
) -> PullCredential:
    if principal.environment != environment:
        raise Forbidden(
            f"{principal.name} is a node of environment {principal.environment}: it may not ask for "
            f"pull credentials of environment {environment}"
        )
    snapshot = hm.snapshot()
    env = named_environment(snapshot, environment)
    issuer, jwks = _issuer_of(env)
    bound = verify_service_account_token(
        token.reveal(), keys=_issuer_keys(jwks), issuer=issuer, now=hm.clock.now(), audience=TOKEN_AUDIENCE
    )
    facts.update(_pod_facts(bound))
    if bound.namespace not in env.namespaces:
        raise Forbidden(
            f"the service-account token's namespace {bound.namespace} is not a namespace of environment "
            f"{environment}"
        )
    decision = check_images(
        hm, principal, environment=environment, images=[image], namespace=bound.namespace
    )[0]
    facts.update(registry=decision.registry, digest=decision.digest)
    if not decision.allowed or decision.registry is None:
        raise Forbidden(
            f"image {image} is denied in namespace {bound.namespace} of environment {environment}: "
            + "; ".join(decision.reasons),
            details=list(decision.reasons),
        )
    registry = snapshot.registries[decision.registry]
    pulling = pull_credential_info(hm, registry)
    if pulling is not None:
        facts["credential"] = pulling.username
    return _mint(hm, principal, registry)


def kubelet_config(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    settings: CredentialProviderSettings,
    default_cache_seconds: int = 300,
) -> dict[str, Any]:
    """The kubelet ``CredentialProviderConfig`` for ``environment``: ``matchImages`` are the
    registries granted on it that have a credential (anonymous ones need no plugin).

    Raises:
        Forbidden: the principal may not read the model.
        NotFound: no such environment.
        Conflict: the environment is not Kubernetes, or has no service-account issuer or JWKS.
        BadInput: no granted registry has a credential; a setting is invalid
            (see :func:`credential_provider_config`).
    """
    require(principal, Permission.GOVERNANCE_READ)
    snapshot = hm.snapshot()
    env = named_environment(snapshot, environment)
    _issuer_of(env)
    grants = snapshot.namespace_grants.items()
    granted = sorted({name for (where, _), names in grants if where == env.name for name in names})
    patterns = [
        snapshot.registries[name].location.prefix
        for name in granted
        if name in snapshot.registries and snapshot.registries[name].credential is not None
    ]
    return credential_provider_config(
        environment=env.name,
        match_images=patterns,
        settings=settings,
        default_cache_seconds=default_cache_seconds,
    )


def _issuer_of(env: Environment) -> tuple[str, str]:
    if env.kind is not EnvironmentKind.KUBERNETES:
        raise Conflict(
            f"environment {env.name} is {env.kind.value}: pull credentials are for Kubernetes nodes"
        )
    missing = [
        name
        for name, value in (
            ("service_account_issuer", env.connection.service_account_issuer),
            ("jwks", env.connection.jwks),
        )
        if not value
    ]
    if missing:
        raise Conflict(
            f"environment {env.name} has no {' and no '.join(missing)}: set them on the environment "
            "(harbourmaster apply) so that pods' service-account tokens can be verified"
        )
    assert env.connection.service_account_issuer is not None and env.connection.jwks is not None
    return env.connection.service_account_issuer, env.connection.jwks


@functools.lru_cache(maxsize=32)
def _issuer_keys(jwks: str) -> IssuerKeys:
    # Read once per JWKS text: a changed JWKS (rotation) is a new key of the cache.
    return IssuerKeys.from_jwks(jwks)


def _pod_facts(bound: BoundServiceAccountToken) -> dict[str, Any]:
    return {
        "namespace": bound.namespace,
        "service_account": bound.service_account_name,
        "pod": bound.pod_name,
        "token_node": bound.node_name,
    }


def _mint(hm: Harbourmaster, principal: Principal, registry: Registry) -> PullCredential:
    actor = principal.audit_name
    credentials = mint_credentials(hm, registry, actor=actor, purpose=_PURPOSE)
    if credentials is None:
        raise NoCredentialNeeded(
            f"registry {registry.name} is pulled anonymously: no credential is needed for it"
        )
    if credentials.expires_at is not None:
        expires_in = max(0, int(credentials.expires_at - hm.clock.now().timestamp()))
    else:
        expires_in = hm.settings.pull_credential_seconds
    return PullCredential(
        registry=registry.name,
        username=credentials.username,
        password=credentials.password,
        expires_in=expires_in,
    )


def _audit(
    hm: Harbourmaster, principal: Principal, facts: dict[str, Any], *, result: str, reason: str | None
) -> None:
    details = {key: value for key, value in facts.items() if value is not None}
    if reason is not None:
        details["reason"] = reason
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.audit_name,
            action=ACTION,
            target=f"{facts['environment']}/{facts.get('namespace', '?')}",
            result=result,
            details=details,
        )
