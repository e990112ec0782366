"""A Docker Engine (standalone) as a deployment target, through the Docker SDK for Python.

Every image is pulled by digest with the granted credential sent in the
``X-Registry-Auth`` header of that one request (the SDK's ``auth_config=``):
nothing is written to ``~/.docker/config.json`` or anywhere else, and a
registry without a credential is pulled anonymously, never with whatever the
local Docker configuration holds.

Containers carry the deployment id, the verdict id and the spec hash as
labels.  :meth:`DockerEngineTarget.apply` compares the hash: an unchanged
service is left running, a changed one is recreated, a service no longer in
the plan is removed.  Images are pulled before any container is touched, so a
failed pull leaves the running deployment as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import docker
from docker import types as docker_types

from harbourmaster.deploy._engine_client import API_VERSION, EngineErrors, open_api
from harbourmaster.deploy._engine_tls import EngineTls
from harbourmaster.deploy.interface import (
    DeployedContainer,
    DeployError,
    DeploymentResult,
    DeploymentTarget,
    EngineUnreachable,
    ImagePullFailed,
    RegistryAuth,
)
from harbourmaster.domain.compose_plan import (
    LABEL_DEPLOYMENT,
    LABEL_SERVICE,
    LABEL_SPEC_HASH,
    LABEL_VERDICT,
    ComposePlan,
    ContainerSpec,
)

__all__ = ["API_VERSION", "DockerEngineTarget", "EngineTls"]


class DockerEngineTarget(DeploymentTarget):
    """One Docker Engine reached over a unix socket or TCP (with TLS)."""

    def __init__(self, api: docker.APIClient, *, endpoint: str, stop_timeout: int = 10) -> None:
        """Use an SDK client; prefer :meth:`connect`.  ``stop_timeout``: seconds a container has to stop."""
        self._api = api
        self.endpoint = endpoint
        self.stop_timeout = stop_timeout
        self._errors = EngineErrors(endpoint)

    @classmethod
    def connect(
        cls, endpoint: str, *, tls: EngineTls | None = None, timeout: float = 120, stop_timeout: int = 10
    ) -> DockerEngineTarget:
        """Reach the engine at ``unix:///run/docker.sock`` or ``tcp://host:2376`` (``tls`` for TCP).

        Raises:
            DeployError: the endpoint is neither form, or TLS is given for a unix socket.
            EngineUnreachable: the engine does not answer, or TLS fails (names the endpoint).
        """
        api = open_api(endpoint, tls=tls, timeout=timeout)
        target = cls(api, endpoint=endpoint, stop_timeout=stop_timeout)
        with target._engine(f"Docker engine {endpoint} does not answer"):
            api.ping()
        return target

    # -- errors -------------------------------------------------------------------------------------

    def _engine(self, what: str) -> contextlib.AbstractContextManager[None]:
        """Translate the SDK's and requests' exceptions into harbourmaster errors naming ``what``."""
        return self._errors.translate(what)

    # -- the interface ------------------------------------------------------------------------------

    def list(self, deployment_id: str | None = None) -> tuple[DeployedContainer, ...]:
        label = f"{LABEL_DEPLOYMENT}={deployment_id}" if deployment_id else LABEL_DEPLOYMENT
        with self._engine("listing containers"):
            found = self._api.containers(all=True, filters={"label": label})
        return tuple(sorted((_deployed(c) for c in found), key=lambda c: c.name))

    def remove(self, deployment_id: str) -> tuple[str, ...]:
        removed = []
        for container in self.list(deployment_id):
            self._remove_container(container.container_id, container.name)
            removed.append(container.name)
        self._prune_networks(deployment_id, keep=set())
        return tuple(removed)

    def apply(self, plan: ComposePlan, credentials: Mapping[str, RegistryAuth]) -> DeploymentResult:
        with self._errors.holding(credentials.values(), credentials):
            return self._apply(plan, credentials)

    def _apply(self, plan: ComposePlan, credentials: Mapping[str, RegistryAuth]) -> DeploymentResult:
        existing = {c.name: c for c in self.list(plan.deployment_id)}
        planned = {spec.name for spec in plan.containers}
        actions: dict[str, str] = {}
        for spec in plan.containers:
            current = existing.get(spec.name)
            if current is None:
                self._refuse_foreign(spec.name)
                actions[spec.name] = "create"
            else:
                actions[spec.name] = "keep" if current.spec_hash == spec.spec_hash else "recreate"
        # Pull first: a registry that is down or refuses the credential changes nothing.
        pulled: dict[str, None] = {}
        for spec in plan.containers:
            if actions[spec.name] != "keep" and spec.image not in pulled:
                self._pull(spec, credentials.get(spec.registry))
                pulled[spec.image] = None
        removed = []
        for name, stale in existing.items():
            if name not in planned:
                self._remove_container(stale.container_id, name)
                removed.append(name)
        self._ensure_volumes(plan)
        self._ensure_networks(plan)
        result: dict[str, list[str]] = {"create": [], "recreate": [], "keep": []}
        for spec in plan.containers:
            action = actions[spec.name]
            result[action].append(spec.name)
            if action == "keep":
                self._ensure_running(existing[spec.name])
                continue
            if action == "recreate":
                self._remove_container(existing[spec.name].container_id, spec.name)
            self._create(plan, spec)
        self._prune_networks(plan.deployment_id, keep={n.name for n in plan.networks})
        return DeploymentResult(
            created=tuple(result["create"]),
            recreated=tuple(result["recreate"]),
            unchanged=tuple(result["keep"]),
            removed=tuple(removed),
            pulled=tuple(pulled),
        )

    # -- steps --------------------------------------------------------------------------------------

    def _refuse_foreign(self, name: str) -> None:
        with self._engine(f"looking up container {name}"):
            found = self._api.containers(all=True, filters={"name": f"^/{name}$"})
        if found:
            owner = (found[0].get("Labels") or {}).get(LABEL_DEPLOYMENT)
            whose = f"deployment {owner!r}" if owner else "something other than harbourmaster"
            raise DeployError(
                f"container {name} already exists and belongs to {whose}; remove it or rename the project"
            )

    def _pull(self, spec: ContainerSpec, auth: RegistryAuth | None) -> None:
        repository, _, digest = spec.image.partition("@")
        config: dict[str, str] = {}
        sent = "anonymously (no credential was granted for this registry)"
        if auth is not None:
            config = {
                "username": auth.username,
                "password": auth.password.reveal(),
                "serveraddress": spec.registry,
            }
            sent = f"as {auth.username!r}"
        what = f"pulling {spec.image} from registry {spec.registry} {sent}"
        try:
            with self._engine(what):
                for line in self._api.pull(
                    repository, tag=digest, stream=True, decode=True, auth_config=config
                ):
                    if isinstance(line, dict) and line.get("error"):
                        raise docker.errors.APIError(str(line["error"]))
        except EngineUnreachable:
            raise
        except DeployError as exc:
            raise ImagePullFailed(
                exc.message,
                details=["check that the registry is up and that the credential is valid for this image"],
            ) from None
        finally:
            config.clear()

    def _remove_container(self, container_id: str, name: str) -> None:
        with self._engine(f"removing container {name}"):
            with contextlib.suppress(docker.errors.NotFound):
                self._api.stop(container_id, timeout=self.stop_timeout)
            with contextlib.suppress(docker.errors.NotFound):
                self._api.remove_container(container_id, force=True)

    def _ensure_running(self, container: DeployedContainer) -> None:
        if container.state != "running":
            with self._engine(f"starting container {container.name}"):
                self._api.start(container.container_id)

    def _ensure_volumes(self, plan: ComposePlan) -> None:
        with self._engine("listing volumes"):
            have = {v["Name"] for v in (self._api.volumes().get("Volumes") or [])}
        for volume in plan.volumes:
            if volume.name in have:
                continue
            if volume.external:
                raise DeployError(f"volume {volume.name} is external but does not exist on {self.endpoint}")
            with self._engine(f"creating volume {volume.name}"):
                self._api.create_volume(volume.name, labels=plan.resource_labels())

    def _ensure_networks(self, plan: ComposePlan) -> None:
        with self._engine("listing networks"):
            have = {n["Name"] for n in self._api.networks()}
        for network in plan.networks:
            if network.name in have:
                continue
            if network.external:
                raise DeployError(f"network {network.name} is external but does not exist on {self.endpoint}")
            with self._engine(f"creating network {network.name}"):
                self._api.create_network(
                    network.name, driver="bridge", internal=network.internal, labels=plan.resource_labels()
                )

    def _prune_networks(self, deployment_id: str, *, keep: set[str]) -> None:
        with self._engine("listing networks"):
            mine = self._api.networks(filters={"label": f"{LABEL_DEPLOYMENT}={deployment_id}"})
        for network in mine:
            if network["Name"] not in keep:
                with self._engine(f"removing network {network['Name']}"):
                    self._api.remove_network(network["Id"])

    def _create(self, plan: ComposePlan, spec: ContainerSpec) -> None:
        api = self._api
        first = spec.networks[0] if spec.networks else None
        host_config = api.create_host_config(
            port_bindings=_port_bindings(spec),
            mounts=[
                docker_types.Mount(m.target, m.source, type=m.kind, read_only=m.read_only)
                for m in spec.mounts
            ],
            restart_policy={"Name": spec.restart.name, "MaximumRetryCount": spec.restart.max_retries},
            network_mode=first.network if first else "none",
            read_only=spec.read_only or None,
            init=spec.init or None,
        )
        networking = (
            api.create_networking_config(
                {first.network: api.create_endpoint_config(aliases=list(first.aliases))}
            )
            if first
            else None
        )
        with self._engine(f"creating container {spec.name} from {spec.image}"):
            created = api.create_container(
                spec.image,
                name=spec.name,
                command=list(spec.command) if spec.command is not None else None,
                entrypoint=list(spec.entrypoint) if spec.entrypoint is not None else None,
                environment=[f"{k}={v}" for k, v in spec.environment],
                ports=[(p.container_port, p.protocol) for p in spec.ports] or None,
                labels=plan.labels(spec),
                host_config=host_config,
                networking_config=networking,
                working_dir=spec.working_dir,
                user=spec.user,
                hostname=spec.hostname,
                tty=spec.tty,
                stdin_open=spec.stdin_open,
                stop_signal=spec.stop_signal,
                use_config_proxy=False,
            )
            for attachment in spec.networks[1:]:
                api.connect_container_to_network(
                    created["Id"], attachment.network, aliases=list(attachment.aliases)
                )
        with self._engine(f"starting container {spec.name}"):
            api.start(created["Id"])


def _port_bindings(spec: ContainerSpec) -> dict[str, list[tuple[str, str]]]:
    bindings: dict[str, list[tuple[str, str]]] = {}
    for port in spec.ports:
        host_port = "" if port.host_port is None else str(port.host_port)
        bindings.setdefault(f"{port.container_port}/{port.protocol}", []).append(
            (port.host_ip or "", host_port)
        )
    return bindings


def _deployed(container: Mapping[str, Any]) -> DeployedContainer:
    labels = container.get("Labels") or {}
    names = container.get("Names") or ["/"]
    return DeployedContainer(
        name=str(names[0]).lstrip("/"),
        service=labels.get(LABEL_SERVICE, ""),
        deployment_id=labels.get(LABEL_DEPLOYMENT, ""),
        verdict_id=labels.get(LABEL_VERDICT, ""),
        spec_hash=labels.get(LABEL_SPEC_HASH, ""),
        image=str(container.get("Image", "")),
        state=str(container.get("State", "")),
        container_id=str(container["Id"]),
    )
