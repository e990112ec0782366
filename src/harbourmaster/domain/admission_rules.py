"""What an admission engine outside harbourmaster must enforce on one Kubernetes environment.

The exports (:mod:`harbourmaster.domain.exports`) are written from one :class:`AdmissionRules`, and
the consistency check (``policy diff``) reads exported or hand-edited files back into the same
shape, so "what the governance model says" and "what a file enforces" compare field by field.

The source part is the one :func:`~harbourmaster.domain.decision.decide` applies: an image is
admitted in a namespace when a registry granted there, and usable on the environment that day (not
public or insecure above development, credential not expired), covers it by whole path segments; or,
on a development environment with anonymous Docker Hub open, when it is on Docker Hub.  Usability
depends on the day, so an export is the rules *as of* the day it was made; ``policy diff`` shows
when they have moved since.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from harbourmaster.domain.decision import GovernanceSnapshot, registry_unusable
from harbourmaster.domain.matching import RegistryLocation, parse_registry_location
from harbourmaster.domain.model import ANONYMOUS_DOCKERHUB, AdmissionMode, Environment, EnvironmentKind, Tier
from harbourmaster.domain.reference import DEFAULT_DOMAIN
from harbourmaster.domain.signing_trust import SigningTrust, TrustedIdentity, TrustedKey
from harbourmaster.errors import BadInput

__all__ = ["AdmissionRules", "NamespaceSources", "admission_rules"]

_DOCKER_HUB = parse_registry_location(f"https://{DEFAULT_DOMAIN}")


@dataclass(frozen=True, slots=True)
class NamespaceSources:
    """The registry locations whose images a namespace may run, sorted by prefix."""

    namespace: str
    locations: tuple[RegistryLocation, ...]

    @property
    def prefixes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(location.prefix for location in self.locations))


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    """The source rules per namespace and the signature rules of one environment."""

    environment: str
    tier: Tier
    mode: AdmissionMode
    namespaces: tuple[NamespaceSources, ...]
    require_signature: bool
    #: ``any`` or ``all`` of the signers.
    signers_required: str
    keys: tuple[TrustedKey, ...]
    identities: tuple[TrustedIdentity, ...]
    #: Signers no admission engine here can check (Notation trust policies), by name.
    unexported_signers: tuple[str, ...]
    #: The fingerprint of the environment's effective policy (``policy show``).
    fingerprint: str

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every registry host (with its port, if any) some namespace may pull from, sorted."""
        return tuple(sorted({loc.host for ns in self.namespaces for loc in ns.locations}))

    def sources_of(self, namespace: str) -> NamespaceSources | None:
        return next((ns for ns in self.namespaces if ns.namespace == namespace), None)


def admission_rules(
    snapshot: GovernanceSnapshot,
    env: Environment,
    *,
    trust: SigningTrust,
    require_signature: bool,
    signers: tuple[str, ...],
    signers_required: str,
    fingerprint: str,
    today: dt.date,
) -> AdmissionRules:
    """The rules of Kubernetes environment ``env`` on ``today``.

    Raises:
        BadInput: ``env`` is not a Kubernetes environment (admission engines guard namespaces).
    """
    if env.kind is not EnvironmentKind.KUBERNETES:
        raise BadInput(
            f"environment {env.name} is {env.kind.value}: policies for Kubernetes admission engines "
            "exist for Kubernetes environments only"
        )
    namespaces = []
    for namespace in env.namespaces:
        locations: set[RegistryLocation] = set()
        for name in snapshot.namespace_grants.get((env.name, namespace), frozenset()):
            registry = snapshot.registries.get(name)
            if registry is None or name == ANONYMOUS_DOCKERHUB:
                continue
            if registry_unusable(registry, env, today) is None:
                locations.add(registry.location)
        if snapshot.anonymous_dockerhub_open(env):
            locations.add(_DOCKER_HUB)
        namespaces.append(
            NamespaceSources(namespace, tuple(sorted(locations, key=lambda loc: (loc.prefix, loc.scheme))))
        )
    keys = tuple(k for k in trust.keys if k.name in signers) if require_signature else ()
    identities = tuple(i for i in trust.identities if i.name in signers) if require_signature else ()
    exported = {k.name for k in keys} | {i.name for i in identities}
    return AdmissionRules(
        environment=env.name,
        tier=env.tier,
        mode=env.admission,
        namespaces=tuple(namespaces),
        require_signature=require_signature,
        signers_required=signers_required,
        keys=keys,
        identities=identities,
        unexported_signers=tuple(s for s in signers if s not in exported) if require_signature else (),
        fingerprint=fingerprint,
    )
