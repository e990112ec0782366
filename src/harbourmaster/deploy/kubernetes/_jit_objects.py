"""Pure pieces of the deployment-window Secret mode: the Secret document, the pod-template edits and the
reading of pod statuses. No I/O and no ``kubernetes`` import; :mod:`.jit_secrets` does the calls."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from harbourmaster.deploy.interface import DeployError, RegistryAuth
from harbourmaster.domain.kinds import workload_pod_spec_path
from harbourmaster.errors import BadInput

SECRET_PREFIX: Final = "hm-jit-"
LABEL_EXPIRES: Final = "harbourmaster.io/jit-expires"
LABEL_DEPLOYMENT: Final = "harbourmaster.io/deployment"
LABEL_WORKLOAD: Final = "harbourmaster.io/workload"
FIELD_MANAGER: Final = "harbourmaster"

# What the kubelet reports while a container's image cannot be had.
PULL_FAILURE_REASONS: Final = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "RegistryUnavailable"}
)
_DEPLOYMENT_ID = re.compile(r"[a-z0-9]([a-z0-9-]{0,54}[a-z0-9])?")
_IMMUTABLE_POD_SPECS: Final = frozenset({"Job", "Pod"})
_DOCKER_HUB_HOSTS: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True, slots=True)
class Workload:
    """One object to apply: its API path parts, and the pods harbourmaster waits for (0: none)."""

    api_version: str
    kind: str
    name: str
    expected_pods: int
    document: dict[str, Any]

    @property
    def has_pod_template(self) -> bool:
        return workload_pod_spec_path(self.api_version, self.kind) is not None

    @property
    def reference_removable(self) -> bool:
        """Whether the reference can be applied away: a Job's pod template and a Pod's spec are
        immutable, so theirs stays, naming a Secret that no longer exists (the kubelet ignores it)."""
        return self.has_pod_template and self.kind not in _IMMUTABLE_POD_SPECS

    @property
    def label(self) -> str:
        return workload_label(self.kind, self.name)

    def describe(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class ContainerPull:
    """How one container of one pod fared pulling its image."""

    workload: str
    pod: str
    container: str
    image: str
    pulled: bool
    reason: str | None = None
    message: str | None = None

    def describe(self) -> str:
        if self.pulled:
            return f"{self.pod}/{self.container}: pulled {self.image}"
        return (
            f"{self.pod}/{self.container}: {self.reason} pulling {self.image}: {self.message or ''}".rstrip(
                ": "
            )
        )


class NamespaceGone(DeployError):
    """The target namespace does not exist, or is being deleted."""

    status = 409
    kind = "namespace-gone"


class RolloutTimeout(DeployError):
    """The pods did not all pull (or fail to pull) their images in time."""

    status = 504
    kind = "rollout-timeout"


@dataclass(frozen=True, slots=True)
class KubernetesDeploymentResult:
    """What :meth:`KubernetesTarget.apply` applied (``Kind/name``) and how each container's pull went."""

    namespace: str
    deployment_id: str
    secret: str | None
    applied: tuple[str, ...]
    pulls: tuple[ContainerPull, ...]
    #: Workloads whose pod spec cannot change (Jobs, Pods): they keep naming the deleted Secret.
    references_kept: tuple[str, ...] = ()

    @property
    def failures(self) -> tuple[ContainerPull, ...]:
        return tuple(p for p in self.pulls if not p.pulled)

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class ReapedSecret:
    namespace: str
    name: str
    expired_at: int


def check_deployment_id(deployment_id: str) -> str:
    """The id, which names the Secret and is a label value.

    Raises:
        BadInput: not lower-case letters, digits and dashes, at most 56 characters.
    """
    if not _DEPLOYMENT_ID.fullmatch(deployment_id):
        raise BadInput(
            f"deployment id {deployment_id[:80]!r} cannot name a Kubernetes Secret: use lower-case letters, "
            "digits and '-', at most 56 characters, starting and ending with a letter or digit"
        )
    return deployment_id


def secret_name(deployment_id: str) -> str:
    return f"{SECRET_PREFIX}{deployment_id}"


def workload_label(kind: str, name: str) -> str:
    value = f"{kind.lower()}-{name}"
    if len(value) <= 63:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:10]
    return f"{value[:52].rstrip('-.')}-{digest}"


def docker_config_key(host: str) -> str:
    # The kubelet looks Docker Hub credentials up under the index URL of the Docker CLI.
    return "https://index.docker.io/v1/" if host in _DOCKER_HUB_HOSTS else host


def pull_secret(
    *, namespace: str, deployment_id: str, credentials: Mapping[str, RegistryAuth], expires_at: int
) -> dict[str, Any]:
    """The ``kubernetes.io/dockerconfigjson`` Secret; the one place a password is revealed."""
    auths = {}
    for host, auth in credentials.items():
        password = auth.password.reveal()
        token = base64.b64encode(f"{auth.username}:{password}".encode()).decode()
        auths[docker_config_key(host)] = {"username": auth.username, "password": password, "auth": token}
    config = json.dumps({"auths": auths}, separators=(",", ":")).encode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/dockerconfigjson",
        "metadata": {
            "name": secret_name(deployment_id),
            "namespace": namespace,
            "labels": {LABEL_EXPIRES: str(expires_at), LABEL_DEPLOYMENT: deployment_id},
        },
        "data": {".dockerconfigjson": base64.b64encode(config).decode()},
    }


def workloads(namespace: str, objects: list[Mapping[str, Any]], deployment_id: str) -> list[Workload]:
    """The objects as they are applied: namespaced, their pod templates labelled for this deployment.

    Raises:
        DeployError: an object without apiVersion, kind or name, or in another namespace.
    """
    result = []
    for index, original in enumerate(objects):
        document = copy.deepcopy(dict(original))
        api_version, kind = document.get("apiVersion"), document.get("kind")
        metadata = document.setdefault("metadata", {})
        name = metadata.get("name")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(name, str):
            raise DeployError(
                f"object {index + 1} has no apiVersion, kind or metadata.name: it cannot be applied"
            )
        if metadata.get("namespace") not in (None, namespace):
            raise DeployError(f"{kind}/{name} is in namespace {metadata['namespace']}, not {namespace}")
        metadata["namespace"] = namespace
        path = workload_pod_spec_path(api_version, kind)
        expected = 0
        if path is not None and kind != "CronJob":
            template = _at(document, path[:-1])
            labels = template.setdefault("metadata", {}).setdefault("labels", {})
            labels[LABEL_DEPLOYMENT] = deployment_id
            labels[LABEL_WORKLOAD] = workload_label(kind, name)
            spec = document.get("spec") or {}
            expected = int(spec.get("parallelism", 1)) if kind == "Job" else 1
            if kind in ("Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"):
                expected = int(spec.get("replicas", 1))
        result.append(Workload(api_version, kind, name, expected, document))
    return result


def with_pull_secret(document: dict[str, Any], name: str | None) -> dict[str, Any]:
    """A copy of ``document`` whose pod spec names the Secret ``name`` in ``imagePullSecrets``
    (``None``: without it, and without the field when nothing else is left in it)."""
    document = copy.deepcopy(document)
    path = workload_pod_spec_path(str(document.get("apiVersion")), str(document.get("kind")))
    if path is None:
        return document
    pod_spec = _at(document, path)
    refs = [
        r
        for r in pod_spec.get("imagePullSecrets") or []
        if not str(r.get("name", "")).startswith(SECRET_PREFIX)
    ]
    if name is not None:
        refs.append({"name": name})
    if refs:
        pod_spec["imagePullSecrets"] = refs
    else:
        pod_spec.pop("imagePullSecrets", None)
    return document


def container_pulls(workload: str, pod: Mapping[str, Any]) -> Iterator[ContainerPull] | None:
    """Each container's outcome, or ``None`` while any container has neither pulled nor failed."""
    name = str((pod.get("metadata") or {}).get("name", ""))
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    declared = [c for f in ("initContainers", "containers") for c in spec.get(f) or []]
    statuses = {
        s.get("name"): s for f in ("initContainerStatuses", "containerStatuses") for s in status.get(f) or []
    }
    outcomes = []
    for container in declared:
        entry = statuses.get(container.get("name"))
        if entry is None:
            return None
        image = str(container.get("image", entry.get("image", "")))
        waiting = (entry.get("state") or {}).get("waiting") or {}
        if entry.get("started") or entry.get("imageID") or "running" in (entry.get("state") or {}):
            outcomes.append(ContainerPull(workload, name, str(container.get("name")), image, pulled=True))
        elif waiting.get("reason") in PULL_FAILURE_REASONS:
            outcomes.append(
                ContainerPull(
                    workload,
                    name,
                    str(container.get("name")),
                    image,
                    pulled=False,
                    reason=str(waiting["reason"]),
                    message=waiting.get("message"),
                )
            )
        else:
            return None
    return iter(outcomes)


def _at(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = document
    for key in path:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    return node
