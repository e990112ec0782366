"""A Docker Swarm manager as a deployment target: each compose service becomes a Swarm service.

A plan's service ``web`` of project ``shop`` runs as the Swarm service
``shop_web`` (one replica, the image pinned by digest), its networks as
attachable overlay networks, its ports published in ``ingress`` mode (the
routing mesh) or ``host`` mode, its named volumes as volume mounts created
by each node.  The service carries the deployment id, verdict id and spec
hash as labels: an unchanged service is left alone, a changed one is updated
in place (Swarm rolls its task), one no longer in the plan is removed.

The granted registry credential travels in the ``X-Registry-Auth`` header of
the create or update call, built in memory (the SDK's ``create_service``
would read ``~/.docker/config.json`` instead, so the call is made here).
Swarm keeps that credential: the manager stores it in the service spec
(swarmkit's ``ContainerSpec.PullOptions.RegistryAuth``, in the raft store,
encrypted at rest with a key kept beside it unless the swarm is autolocked)
and copies it into every task it creates, on the workers too
(``<data-root>/swarm/worker/tasks.db``, not encrypted), so that a node can
pull again whenever a task is rescheduled.  The Engine API never shows it:
``docker service inspect`` has no ``PullOptions``.

``retention="none"`` waits until every task runs, then updates each service
with an empty credential (``{}``), which replaces the stored one; running
tasks are not restarted by that.  From then on a task Swarm reschedules (a
node lost, a container that exits under ``restart: always``) pulls
anonymously and fails on a private registry unless the node still holds
the image: redeploy through harbourmaster to hand the credential over again.
Copies in the tasks created while it was stored stay until those tasks are
replaced and pruned by the swarm's task history retention.
"""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import docker

from harbourmaster.deploy._engine_client import EngineErrors, open_api, registry_auth_header
from harbourmaster.deploy._engine_tls import EngineTls
from harbourmaster.deploy._swarm_spec import (
    LABEL_PUBLISH_MODE,
    LABEL_REGISTRY_AUTH,
    PublishMode,
    SwarmPlanRefused,
    refuse_unsupported,
    service_spec,
)
from harbourmaster.deploy.interface import (
    DeployedContainer,
    DeployError,
    DeploymentResult,
    ImagePullFailed,
    RegistryAuth,
    SwarmEngine,
)
from harbourmaster.domain.compose_plan import (
    LABEL_DEPLOYMENT,
    LABEL_SERVICE,
    LABEL_SPEC_HASH,
    LABEL_VERDICT,
    ComposePlan,
    ContainerSpec,
)

__all__ = [
    "LABEL_PUBLISH_MODE",
    "LABEL_REGISTRY_AUTH",
    "RESCHEDULE_NOTICE",
    "PublishMode",
    "Retention",
    "SwarmDeploymentResult",
    "SwarmPlanRefused",
    "SwarmTarget",
]

Retention = Literal["keep", "none"]

RESCHEDULE_NOTICE = (
    "the registry credential was removed from the Swarm service specs once every task ran: a task Swarm "
    "reschedules later (node lost, container restarted elsewhere) cannot pull a private image; "
    "redeploy through harbourmaster to hand the credential over again"
)
_EMPTY_AUTH = registry_auth_header(None, "")
_FAILED = frozenset({"failed", "rejected", "orphaned", "remove"})


@dataclass(frozen=True, slots=True)
class SwarmDeploymentResult(DeploymentResult):
    """:class:`DeploymentResult` (by Swarm service name), where the credential stayed, and notices."""

    registry_auth: Retention = "keep"
    notices: tuple[str, ...] = ()


class SwarmTarget(SwarmEngine):
    """One Swarm manager reached over a unix socket or TCP (with TLS)."""

    def __init__(
        self,
        api: docker.APIClient,
        *,
        endpoint: str,
        publish_mode: PublishMode = "ingress",
        wait_timeout: float = 120,
    ) -> None:
        """Use an SDK client; prefer :meth:`connect`."""
        self._api = api
        self.endpoint = endpoint
        self.publish_mode = publish_mode
        self.wait_timeout = wait_timeout
        self._errors = EngineErrors(endpoint)

    @classmethod
    def connect(
        cls,
        endpoint: str,
        *,
        tls: EngineTls | None = None,
        timeout: float = 120,
        publish_mode: PublishMode = "ingress",
        wait_timeout: float = 120,
    ) -> SwarmTarget:
        """Reach the Swarm manager at ``unix:///run/docker.sock`` or ``tcp://host:2376``.

        ``publish_mode``: ``ingress`` (the routing mesh, which needs the
        engine's iptables rules) or ``host`` (the port is bound on the node
        running the task).  ``wait_timeout``: seconds tasks have to run.

        Raises:
            DeployError: the endpoint is malformed, or the engine is not a Swarm manager.
            EngineUnreachable: the engine does not answer, or TLS fails (names the endpoint).
        """
        api = open_api(endpoint, tls=tls, timeout=timeout)
        target = cls(api, endpoint=endpoint, publish_mode=publish_mode, wait_timeout=wait_timeout)
        with target._errors.translate(f"Docker engine {endpoint} does not answer"):
            swarm = api.info().get("Swarm") or {}
        if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
            raise DeployError(
                f"Docker engine {endpoint} is not a Swarm manager (state: {swarm.get('LocalNodeState')})",
                details=["deploy to a manager node, or use the docker-standalone target"],
            )
        return target

    # -- the interface ------------------------------------------------------------------------------

    def list(self, deployment_id: str | None = None) -> tuple[DeployedContainer, ...]:
        return tuple(_deployed(s, self._state(s)) for s in self._services(deployment_id))

    def remove(self, deployment_id: str) -> tuple[str, ...]:
        removed: builtins.list[str] = []
        for service in self._services(deployment_id):
            name = service["Spec"]["Name"]
            with self._errors.translate(f"removing service {name}"):
                self._api.remove_service(service["ID"])
            removed.append(name)
        self._prune_networks(deployment_id, keep=set())
        return tuple(removed)

    def apply(
        self,
        plan: ComposePlan,
        credentials: Mapping[str, RegistryAuth],
        *,
        retention: Retention = "keep",
    ) -> SwarmDeploymentResult:
        """Make the swarm run ``plan``, and wait until every task of it runs.

        Raises:
            SwarmPlanRefused: the plan uses what a Swarm service cannot do (named by field).
            EngineUnreachable: the manager cannot be reached.
            ImagePullFailed: a task could not pull its image (names the service, image and task error).
            DeployError: the swarm refused a service or network, or a task failed or did not run in time.
        """
        refuse_unsupported(plan)
        with self._errors.holding(credentials.values(), credentials):
            return self._apply(plan, credentials, retention)

    # -- steps --------------------------------------------------------------------------------------

    def _apply(
        self, plan: ComposePlan, credentials: Mapping[str, RegistryAuth], retention: Retention
    ) -> SwarmDeploymentResult:
        existing = {s["Spec"]["Name"]: s for s in self._services(plan.deployment_id)}
        names = {_service_name(plan, spec): spec for spec in plan.containers}
        actions: dict[str, str] = {}
        forced: set[str] = set()
        for name, spec in names.items():
            current = existing.get(name)
            if current is None:
                self._refuse_foreign(name)
                actions[name] = "create"
                continue
            labels = current["Spec"].get("Labels") or {}
            same = labels.get(LABEL_SPEC_HASH) == spec.spec_hash
            same = same and labels.get(LABEL_PUBLISH_MODE, self.publish_mode) == self.publish_mode
            if not same:
                actions[name] = "update"
            elif labels.get(LABEL_REGISTRY_AUTH) == "removed" and spec.registry in credentials:
                # The credential was removed: hand it over again if asked to keep it, or if a
                # rescheduled task could not pull without it (replaced by force).
                stuck = not self._running(name)
                actions[name] = "update" if retention == "keep" or stuck else "keep"
                if stuck:
                    forced.add(name)
            else:
                actions[name] = "keep"
        removed: builtins.list[str] = []
        for name, stale in existing.items():
            if name not in names:
                with self._errors.translate(f"removing service {name}"):
                    self._api.remove_service(stale["ID"])
                removed.append(name)
        self._ensure_networks(plan)
        result: dict[str, builtins.list[str]] = {"create": [], "update": [], "keep": []}
        older: dict[str, set[str]] = {}  # the tasks a created or updated service had before
        for name, spec in names.items():
            action = actions[name]
            result[action].append(name)
            if action == "keep":
                continue
            auth = credentials.get(spec.registry)
            body = service_spec(plan, spec, name, holds_auth=auth is not None, publish_mode=self.publish_mode)
            header = registry_auth_header(auth, spec.registry)
            older[name] = {t["ID"] for t in self._tasks(name)} if action == "update" else set()
            if action == "create":
                self._post(f"creating service {name} from {spec.image}", "/services/create", body, header)
            else:
                current = existing[name]
                template = current["Spec"]["TaskTemplate"]
                # Carry the force counter over: a lower one would be a change that restarts the task.
                body["TaskTemplate"]["ForceUpdate"] = template.get("ForceUpdate", 0) + (name in forced)
                self._post(
                    f"updating service {name} to {spec.image}",
                    f"/services/{current['ID']}/update?version={current['Version']['Index']}",
                    body,
                    header,
                )
        notices: builtins.list[str] = []
        # Wait for the tasks of what changed; before removing the credential, for every service.
        waiting = set(older)
        if retention == "none":
            waiting |= {n for n in names if self._holds_auth(existing.get(n))}
        try:
            self._wait_running(names, waiting, older, credentials)
        finally:
            if retention == "none":
                for name in names:
                    if name in older or self._holds_auth(existing.get(name)):
                        self._drop_auth(name)
        if retention == "none":
            notices.append(RESCHEDULE_NOTICE)
        if any(spec.depends_on for spec in plan.containers):
            notices.append("Swarm starts services without waiting for their depends_on (created in order)")
        self._prune_networks(plan.deployment_id, keep={n.name for n in plan.networks})
        return SwarmDeploymentResult(
            created=tuple(result["create"]),
            recreated=tuple(result["update"]),
            unchanged=tuple(result["keep"]),
            removed=tuple(removed),
            pulled=tuple(dict.fromkeys(names[n].image for n in older)),
            registry_auth=retention,
            notices=tuple(notices),
        )

    def _post(self, what: str, path: str, body: dict[str, Any], header: str) -> None:
        url = f"{self._api.base_url}/v{self._api.api_version}{path}"
        with self._errors.translate(what):
            response = self._api.post(
                url,
                data=json.dumps(body),
                headers={"Content-Type": "application/json", "X-Registry-Auth": header},
                timeout=self._api.timeout,
            )
            response.raise_for_status()

    def _drop_auth(self, name: str) -> None:
        """Replace the credential Swarm stored with ``{}``: the running tasks are not restarted."""
        current = self._inspect(name)
        spec = current["Spec"]
        spec["Labels"] = {**(spec.get("Labels") or {}), LABEL_REGISTRY_AUTH: "removed"}
        self._post(
            f"removing the registry credential from service {name}",
            f"/services/{current['ID']}/update?version={current['Version']['Index']}",
            spec,
            _EMPTY_AUTH,
        )

    def _settled(self, name: str, tasks: builtins.list[dict[str, Any]], *, since: float) -> bool:
        """An update that replaced no task (only labels changed), or a service left as it was, runs."""
        if time.monotonic() - since < 2:  # the orchestrator may not have replaced the task yet
            return False
        status = (self._inspect(name).get("UpdateStatus") or {}).get("State")
        live = [t for t in tasks if t["DesiredState"] == "running"]
        return (
            status in (None, "completed")
            and bool(live)
            and all(t["Status"]["State"] == "running" for t in live)
        )

    def _running(self, name: str) -> bool:
        return any(
            t["DesiredState"] == "running" and t["Status"]["State"] == "running" for t in self._tasks(name)
        )

    @staticmethod
    def _holds_auth(service: Mapping[str, Any] | None) -> bool:
        if service is None:
            return False
        return (service["Spec"].get("Labels") or {}).get(LABEL_REGISTRY_AUTH) == "kept"

    def _wait_running(
        self,
        names: Mapping[str, ContainerSpec],
        waiting: set[str],
        older: Mapping[str, set[str]],
        credentials: Mapping[str, RegistryAuth],
    ) -> None:
        started = time.monotonic()
        deadline = started + self.wait_timeout
        pending = set(waiting)
        while pending:
            for name in sorted(pending):
                spec = names[name]
                tasks = self._tasks(name)
                new = [t for t in tasks if name in older and t["ID"] not in older[name]]
                for task in new:
                    if task["Status"]["State"] in _FAILED:
                        self._task_failed(name, spec, task, credentials.get(spec.registry))
                finished = spec.restart.name in ("no", "on-failure")
                if any(
                    (t["Status"]["State"] == "running" and t["DesiredState"] == "running")
                    or (finished and t["Status"]["State"] == "complete")
                    for t in new
                ) or (not new and self._settled(name, tasks, since=started)):
                    pending.discard(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                states = [
                    f"{name}: task {t['ID'][:12]} {t['Status']['State']} (desired {t['DesiredState']})"
                    + (f": {self._errors.scrub(str(t['Status']['Err']))}" if t["Status"].get("Err") else "")
                    for name in sorted(pending)
                    for t in self._tasks(name)
                ]
                raise DeployError(
                    f"the tasks of {', '.join(sorted(pending))} did not run within {self.wait_timeout:g}s",
                    details=[*states, "see docker service ps --no-trunc on the manager"],
                )
            time.sleep(0.5)

    def _task_failed(
        self, name: str, spec: ContainerSpec, task: Mapping[str, Any], auth: RegistryAuth | None
    ) -> None:
        status = task["Status"]
        error = self._errors.scrub(str(status.get("Err") or status.get("Message") or status["State"]))
        sent = f"as {auth.username!r}" if auth is not None else "anonymously (no credential was granted)"
        message = f"service {name}: task {task['ID'][:12]} {status['State']}: {error}"
        if status["State"] == "rejected" and "image" in error.lower():
            raise ImagePullFailed(
                f"{message} (pulling {spec.image} from registry {spec.registry} {sent})",
                details=[
                    "check that the registry is up and that the credential is valid for this image",
                    "the service stays defined: redeploy once fixed, or remove the deployment",
                ],
            )
        raise DeployError(message, details=["the service stays defined: redeploy once fixed, or remove it"])

    # -- engine reads -------------------------------------------------------------------------------

    def _services(self, deployment_id: str | None) -> builtins.list[dict[str, Any]]:
        label = f"{LABEL_DEPLOYMENT}={deployment_id}" if deployment_id else LABEL_DEPLOYMENT
        with self._errors.translate("listing services"):
            found = self._api.services(filters={"label": label})
        return sorted(found, key=lambda s: s["Spec"]["Name"])

    def _inspect(self, name: str) -> dict[str, Any]:
        with self._errors.translate(f"inspecting service {name}"):
            return dict(self._api.inspect_service(name))

    def _tasks(self, name: str) -> builtins.list[dict[str, Any]]:
        with self._errors.translate(f"listing the tasks of service {name}"):
            return builtins.list(self._api.tasks(filters={"service": name}))

    def _state(self, service: Mapping[str, Any]) -> str:
        name = service["Spec"]["Name"]
        states = sorted(t["Status"]["State"] for t in self._tasks(name) if t["DesiredState"] == "running")
        return ",".join(states) or "no task"

    def _refuse_foreign(self, name: str) -> None:
        with self._errors.translate(f"looking up service {name}"):
            found = [s for s in self._api.services(filters={"name": name}) if s["Spec"]["Name"] == name]
        if found:
            owner = (found[0]["Spec"].get("Labels") or {}).get(LABEL_DEPLOYMENT)
            whose = f"deployment {owner!r}" if owner else "something other than harbourmaster"
            raise DeployError(
                f"service {name} already exists and belongs to {whose}; remove it or rename the project"
            )

    def _ensure_networks(self, plan: ComposePlan) -> None:
        with self._errors.translate("listing networks"):
            have = {n["Name"]: n for n in self._api.networks()}
        for network in plan.networks:
            found = have.get(network.name)
            if found is not None:
                if found.get("Scope") != "swarm":
                    raise DeployError(
                        f"network {network.name} exists with scope {found.get('Scope')!r}: "
                        "Swarm services need a swarm-scoped (overlay) network"
                    )
                continue
            if network.external:
                raise DeployError(f"network {network.name} is external but does not exist on {self.endpoint}")
            with self._errors.translate(f"creating overlay network {network.name}"):
                self._api.create_network(
                    network.name,
                    driver="overlay",
                    attachable=True,
                    internal=network.internal,
                    labels=plan.resource_labels(),
                )

    def _prune_networks(self, deployment_id: str, *, keep: set[str]) -> None:
        with self._errors.translate("listing networks"):
            mine = self._api.networks(filters={"label": f"{LABEL_DEPLOYMENT}={deployment_id}"})
        for network in mine:
            if network["Name"] not in keep:
                self._remove_network(network["Id"], network["Name"])

    def _remove_network(self, network_id: str, name: str) -> None:
        # A removed service's tasks leave the network a moment later, and the manager removes the
        # network a moment after it answered: wait for both, so that a redeploy can create it again.
        deadline = time.monotonic() + 30
        while True:
            try:
                with self._errors.translate(f"removing network {name}"):
                    self._api.remove_network(network_id)
                    while True:
                        try:
                            self._api.inspect_network(network_id)
                        except docker.errors.NotFound:
                            return
                        if time.monotonic() > deadline:
                            raise DeployError(f"network {name} was not removed within 30s")
                        time.sleep(0.2)
            except DeployError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _service_name(plan: ComposePlan, spec: ContainerSpec) -> str:
    return f"{plan.project}_{spec.service}"


def _deployed(service: Mapping[str, Any], state: str) -> DeployedContainer:
    spec = service["Spec"]
    labels = spec.get("Labels") or {}
    return DeployedContainer(
        name=str(spec["Name"]),
        service=labels.get(LABEL_SERVICE, ""),
        deployment_id=labels.get(LABEL_DEPLOYMENT, ""),
        verdict_id=labels.get(LABEL_VERDICT, ""),
        spec_hash=labels.get(LABEL_SPEC_HASH, ""),
        image=str(spec["TaskTemplate"]["ContainerSpec"]["Image"]),
        state=state,
        container_id=str(service["ID"]),
    )
