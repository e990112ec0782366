"""harbourmaster itself on Kubernetes: the documents ``install-manifests`` prints.

* ``harbourmaster-api``: ``serve`` behind a Service on port 80 (the database schema is brought up to
  date by an init container running ``init``, which is idempotent);
* ``harbourmaster-webhook``: ``webhook serve`` with 2+ replicas spread over nodes, a
  PodDisruptionBudget keeping one up during drains (with ``failurePolicy: Fail`` a webhook that is
  down blocks deployments), and a Service on 443 → the webhook port; its TLS key pair is the Secret
  ``harbourmaster-webhook-tls`` (cert-manager's Certificate ``harbourmaster-webhook`` writes it, and its CA
  injector fills the webhook configurations' ``caBundle``);
* ``harbourmaster-worker``: background jobs (``worker``; PostgreSQL lets any number share the queue);
* every process reads ``HARBOURMASTER_DATABASE_URL`` (PostgreSQL) and ``HARBOURMASTER_MASTER_KEY`` from
  Secrets, runs as a non-root user with a read-only root file system, no privilege escalation and no
  capabilities, with requests and limits; the data directory and ``/tmp`` are ``emptyDir`` volumes.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["InstallOptions", "install_documents"]

_USER_ID = 10001
_HOME = "/var/lib/harbourmaster"
WEBHOOK_PORT = 8443
API_PORT = 8400


@dataclass(frozen=True, slots=True)
class InstallOptions:
    namespace: str = "harbourmaster"
    image: str = "ghcr.io/harbourmaster/harbourmaster:0.1.0"
    #: Secret holding the PostgreSQL URL under ``key``.
    database_secret: str = "harbourmaster-database"
    database_key: str = "url"
    #: Secret holding the master key (base64 of 32 bytes) under ``key``.
    master_key_secret: str = "harbourmaster-master-key"
    master_key_key: str = "key"
    webhook_replicas: int = 2
    api_replicas: int = 2
    worker_replicas: int = 1


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "harbourmaster", "app.kubernetes.io/component": component}


def _env(options: InstallOptions) -> list[dict[str, Any]]:
    return [
        {"name": "HARBOURMASTER_HOME", "value": _HOME},
        {
            "name": "HARBOURMASTER_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": options.database_secret, "key": options.database_key}},
        },
        {
            "name": "HARBOURMASTER_MASTER_KEY",
            "valueFrom": {"secretKeyRef": {"name": options.master_key_secret, "key": options.master_key_key}},
        },
    ]


_CONTAINER_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": _USER_ID,
    "runAsGroup": _USER_ID,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _container(
    options: InstallOptions,
    name: str,
    args: list[str],
    *,
    port: int | None,
    probe: dict[str, Any] | None,
    extra_mounts: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": options.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "env": _env(options),
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": copy.deepcopy(_CONTAINER_SECURITY),
        "volumeMounts": [
            {"name": "data", "mountPath": _HOME},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108
            *extra_mounts,
        ],
    }
    if port is not None:
        container["ports"] = [
            {"name": "http" if port == API_PORT else "https", "containerPort": port, "protocol": "TCP"}
        ]
    if probe is not None:
        container["readinessProbe"] = {
            **probe,
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        }
        container["livenessProbe"] = {
            **probe,
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 6,
            "initialDelaySeconds": 10,
        }
    return container


def _deployment(
    options: InstallOptions,
    component: str,
    replicas: int,
    containers: list[dict[str, Any]],
    *,
    init_containers: Sequence[dict[str, Any]] = (),
    extra_volumes: Sequence[dict[str, Any]] = (),
    spread: bool = False,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": "harbourmaster",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": _USER_ID,
            "runAsGroup": _USER_ID,
            "fsGroup": _USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}, *extra_volumes],
    }
    if init_containers:
        spec["initContainers"] = list(init_containers)
    if spread:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": _labels(component)},
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"harbourmaster-{component}",
            "namespace": options.namespace,
            "labels": _labels(component),
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": _labels(component)},
            "template": {"metadata": {"labels": _labels(component)}, "spec": spec},
        },
    }


def _service(options: InstallOptions, component: str, port: int, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": f"harbourmaster-{component}",
            "namespace": options.namespace,
            "labels": _labels(component),
        },
        "spec": {
            "selector": _labels(component),
            "ports": [{"name": target, "port": port, "targetPort": target, "protocol": "TCP"}],
        },
    }


def install_documents(options: InstallOptions) -> list[dict[str, Any]]:
    """Every document of the deployment, in the order ``kubectl apply`` needs them."""
    api_probe = {"httpGet": {"path": "/healthz", "port": "http"}}
    webhook_probe = {"httpGet": {"path": "/healthz", "port": "https", "scheme": "HTTPS"}}
    tls_mount = {"name": "webhook-tls", "mountPath": "/etc/harbourmaster/tls", "readOnly": True}
    tls_volume = {"name": "webhook-tls", "secret": {"secretName": "harbourmaster-webhook-tls"}}
    api = _container(
        options,
        "api",
        ["serve", "--host", "0.0.0.0", "--port", str(API_PORT)],  # noqa: S104
        port=API_PORT,
        probe=api_probe,
    )
    migrate = _container(options, "migrate", ["init"], port=None, probe=None)
    webhook = _container(
        options,
        "webhook",
        [
            "webhook",
            "serve",
            "--cert",
            "/etc/harbourmaster/tls/tls.crt",
            "--key",
            "/etc/harbourmaster/tls/tls.key",
            "--port",
            str(WEBHOOK_PORT),
        ],
        port=WEBHOOK_PORT,
        probe=webhook_probe,
        extra_mounts=[tls_mount],
    )
    worker = _container(options, "worker", ["worker"], port=None, probe=None)
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": options.namespace}},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "harbourmaster", "namespace": options.namespace},
            "automountServiceAccountToken": False,
        },
        _deployment(options, "api", options.api_replicas, [api], init_containers=[migrate]),
        _service(options, "api", 80, "http"),
        _deployment(
            options,
            "webhook",
            max(2, options.webhook_replicas),
            [webhook],
            extra_volumes=[tls_volume],
            spread=True,
        ),
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {
                "name": "harbourmaster-webhook",
                "namespace": options.namespace,
                "labels": _labels("webhook"),
            },
            "spec": {"minAvailable": 1, "selector": {"matchLabels": _labels("webhook")}},
        },
        _service(options, "webhook", 443, "https"),
        _deployment(options, "worker", options.worker_replicas, [worker]),
    ]
