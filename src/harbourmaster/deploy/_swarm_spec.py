"""A :class:`~harbourmaster.domain.compose_plan.ContainerSpec` as a Swarm ``ServiceSpec`` (pure).

What a Swarm service cannot do (a port bound to one host IP, no network at
all) is refused by field path rather than dropped.
"""

from __future__ import annotations

from typing import Any, Literal

from harbourmaster.deploy.interface import DeployError
from harbourmaster.domain.compose_plan import ComposePlan, ContainerSpec

__all__ = [
    "LABEL_PUBLISH_MODE",
    "LABEL_REGISTRY_AUTH",
    "PublishMode",
    "SwarmPlanRefused",
    "refuse_unsupported",
    "service_spec",
]

PublishMode = Literal["ingress", "host"]

#: Whether the service spec holds the registry credential: ``kept``, ``removed`` or ``none`` (never had one).
LABEL_REGISTRY_AUTH = "io.harbourmaster.registry-auth"
LABEL_PUBLISH_MODE = "io.harbourmaster.publish-mode"
_RESTART = {"no": "none", "always": "any", "unless-stopped": "any", "on-failure": "on-failure"}


class SwarmPlanRefused(DeployError):
    """The plan asks for something a Swarm service cannot do; ``details`` names each field."""

    status = 422
    kind = "swarm-unsupported"


def refuse_unsupported(plan: ComposePlan) -> None:
    """Refuse what a Swarm service cannot do, every problem by field path.

    Raises:
        SwarmPlanRefused: a service has ``network_mode: none`` or a port bound to a host IP.
    """
    problems: list[str] = []
    for spec in plan.containers:
        path = f"services.{spec.service}"
        if not spec.networks:
            problems.append(f"{path}.network_mode: none is not supported by Swarm services")
        for port in spec.ports:
            if port.host_ip:
                problems.append(
                    f"{path}.ports: {port.host_ip}:{port.host_port or ''}:{port.container_port}: "
                    "a Swarm service cannot bind a host IP; publish on every address or use a firewall"
                )
    if problems:
        raise SwarmPlanRefused(
            f"the compose file cannot be deployed to Swarm: {len(problems)} problem(s)", details=problems
        )


def service_spec(
    plan: ComposePlan, spec: ContainerSpec, name: str, *, holds_auth: bool, publish_mode: PublishMode
) -> dict[str, Any]:
    """The Engine API ``ServiceSpec`` of ``spec``, run as the service ``name`` (one replica)."""
    labels = plan.labels(spec)
    external = {v.name for v in plan.volumes if v.external}
    container: dict[str, Any] = {
        "Image": spec.image,
        "Labels": labels,
        "Env": [f"{k}={v}" for k, v in spec.environment],
        "Mounts": [
            {
                "Type": m.kind,
                "Source": m.source,
                "Target": m.target,
                "ReadOnly": m.read_only,
                **(
                    {"VolumeOptions": {"Labels": plan.resource_labels()}}
                    if m.kind == "volume" and m.source not in external
                    else {}
                ),
            }
            for m in spec.mounts
        ],
        "ReadOnly": spec.read_only,
        "Init": spec.init,
        "TTY": spec.tty,
        "OpenStdin": spec.stdin_open,
    }
    # Swarm's Command replaces the image's ENTRYPOINT and Args its CMD.
    optional = {
        "Command": list(spec.entrypoint) if spec.entrypoint is not None else None,
        "Args": list(spec.command) if spec.command is not None else None,
        "Dir": spec.working_dir,
        "User": spec.user,
        "Hostname": spec.hostname,
        "StopSignal": spec.stop_signal,
    }
    container.update({k: v for k, v in optional.items() if v is not None})
    restart: dict[str, Any] = {"Condition": _RESTART[spec.restart.name]}
    if spec.restart.name == "on-failure" and spec.restart.max_retries:
        restart["MaxAttempts"] = spec.restart.max_retries
    ports = [
        {
            "Protocol": p.protocol,
            "TargetPort": p.container_port,
            "PublishMode": publish_mode,
            **({"PublishedPort": p.host_port} if p.host_port is not None else {}),
        }
        for p in spec.ports
    ]
    service_labels = {
        **labels,
        LABEL_PUBLISH_MODE: publish_mode,
        # "removed" is only true once the stored credential is replaced (see _drop_auth).
        LABEL_REGISTRY_AUTH: "kept" if holds_auth else "none",
    }
    return {
        "Name": name,
        "Labels": service_labels,
        "TaskTemplate": {
            "ContainerSpec": container,
            "RestartPolicy": restart,
            "Networks": [{"Target": n.network, "Aliases": list(n.aliases)} for n in spec.networks],
        },
        "Mode": {"Replicated": {"Replicas": 1}},
        "EndpointSpec": {"Ports": ports},
    }
