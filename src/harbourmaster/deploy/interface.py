"""The deployment-target layer: a target runs a :class:`~harbourmaster.domain.compose_plan.ComposePlan`.

Value types and the layer's base error live here; each engine is one module
beside it (:mod:`harbourmaster.deploy.docker_engine` for a Docker Engine).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

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
    "KubernetesCluster",
    "KubernetesConnector",
    "KubernetesOutcome",
    "Reaped",
    "RegistryAuth",
    "SwarmEngine",
    "TargetAccess",
    "TargetConnectors",
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


@dataclass(frozen=True, slots=True)
class TargetAccess:
    """Where an environment's engine or API server is and how to reach it, for one operation.

    ``address`` is the Docker endpoint (``unix:///...``, ``tcp://host:port``) or the API server
    (``https://host:port``). The client key and token were opened from the vault for this call only.
    """

    address: str
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: Secret | None = field(default=None, repr=False)
    token: Secret | None = field(default=None, repr=False)
    insecure: bool = False

    def __repr__(self) -> str:
        return f"TargetAccess(address={self.address!r})"


class SwarmEngine(DeploymentTarget):
    """A Swarm manager: a deployment target whose services may drop the registry credential they keep."""

    @abc.abstractmethod
    def apply(
        self,
        plan: ComposePlan,
        credentials: Mapping[str, RegistryAuth],
        *,
        retention: Literal["keep", "none"] = "keep",
    ) -> DeploymentResult:
        """As :meth:`DeploymentTarget.apply`; ``retention="none"`` removes the credential from the
        service specs once every task runs (the result's ``notices`` say what that means)."""


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


class KubernetesOutcome(Protocol):
    """What a Kubernetes deployment applied (``Kind/name``), the pull Secret it used, and each pull."""

    @property
    def secret(self) -> str | None: ...
    @property
    def applied(self) -> tuple[str, ...]: ...
    @property
    def references_kept(self) -> tuple[str, ...]: ...
    @property
    def pulls(self) -> Sequence[Any]: ...


class KubernetesCluster(JitSecretsTarget, Protocol):
    """An API server harbourmaster deploys to (see :mod:`harbourmaster.deploy.kubernetes.jit_secrets`)."""

    def apply(
        self,
        namespace: str,
        objects: Sequence[Mapping[str, Any]],
        credentials: Mapping[str, RegistryAuth],
        deployment_id: str,
        *,
        window_seconds: int,
        timeout: float,
    ) -> KubernetesOutcome: ...

    def delete(self, namespace: str, objects: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
        """Delete ``objects`` (as given to :meth:`apply`) from ``namespace``; ``Kind/name`` of those that
        were there (a missing object or namespace is already gone)."""
        ...

    def close(self) -> None: ...


class KubernetesConnector(Protocol):
    """Connects to an API server (the composition root gives the core the real one)."""

    def __call__(self, access: TargetAccess) -> KubernetesCluster: ...


class TargetConnectors(Protocol):
    """Connects to each kind of deployment target (the composition root gives the core the real ones)."""

    def docker(self, access: TargetAccess) -> DeploymentTarget: ...
    def swarm(self, access: TargetAccess) -> SwarmEngine: ...
    def kubernetes(self, access: TargetAccess) -> KubernetesCluster: ...
