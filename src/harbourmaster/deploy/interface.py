"""The deployment-target layer: a target runs a :class:`~harbourmaster.domain.compose_plan.ComposePlan`.

Value types and the layer's base error live here; each engine is one module
beside it (:mod:`harbourmaster.deploy.docker_engine` for a Docker Engine).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from harbourmaster.domain.compose_plan import ComposePlan
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Error

__all__ = [
    "DeployError",
    "DeployedContainer",
    "DeploymentResult",
    "DeploymentTarget",
    "EngineUnreachable",
    "ImagePullFailed",
    "JitSecretsTarget",
    "KubernetesConnector",
    "Reaped",
    "RegistryAuth",
]


class DeployError(Error):
    """A deployment target refused or failed an operation.  Never carries a credential."""

    status = 502
    kind = "deploy-failed"


class EngineUnreachable(DeployError):
    """The container engine cannot be reached (socket absent, connection refused, TLS failure)."""

    status = 503
    kind = "engine-unreachable"


class ImagePullFailed(DeployError):
    """The engine could not pull an image: registry down, credential refused, image absent."""

    kind = "image-pull-failed"


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """A just-in-time registry credential, handed to the engine in memory for one pull."""

    username: str
    password: Secret = field(repr=False)

    def __repr__(self) -> str:
        return f"RegistryAuth(username={self.username!r}, password=<redacted>)"


@dataclass(frozen=True, slots=True)
class DeployedContainer:
    """A container a deployment created, as the engine reports it."""

    name: str
    service: str
    deployment_id: str
    verdict_id: str
    spec_hash: str
    image: str
    state: str
    container_id: str


@dataclass(frozen=True, slots=True)
class DeploymentResult:
    """What :meth:`DeploymentTarget.apply` did, by container name, and the image digests it pulled."""

    created: tuple[str, ...] = ()
    recreated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    pulled: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.created or self.recreated or self.removed)


class DeploymentTarget(abc.ABC):
    """A container engine that runs deployment plans."""

    @abc.abstractmethod
    def apply(self, plan: ComposePlan, credentials: Mapping[str, RegistryAuth]) -> DeploymentResult:
        """Make the engine run ``plan``; ``credentials`` maps a registry host to its credential.

        Raises:
            EngineUnreachable: the engine cannot be reached.
            ImagePullFailed: an image could not be pulled (names the image and registry).
            DeployError: the engine refused to create or start a container, volume or network.
        """

    @abc.abstractmethod
    def remove(self, deployment_id: str) -> tuple[str, ...]:
        """Remove every container and network of ``deployment_id`` (volumes are kept); their names."""

    @abc.abstractmethod
    def list(self, deployment_id: str | None = None) -> tuple[DeployedContainer, ...]:
        """The containers harbourmaster deployed (of one deployment when given)."""


class Reaped(Protocol):
    """A just-in-time pull Secret a reap deleted."""

    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def expired_at(self) -> int: ...


class JitSecretsTarget(Protocol):
    """What the services ask of a Kubernetes API server about just-in-time pull Secrets."""

    def reap(self, now: float | None = None) -> tuple[Reaped, ...]:
        """Delete every expired ``hm-jit-*`` Secret; what was deleted."""
        ...


class KubernetesConnector(Protocol):
    """Connects to an API server (the composition root gives the core the real one)."""

    def __call__(self, api_server: str, *, token: Secret | None, ca_pem: str | None) -> JitSecretsTarget: ...
