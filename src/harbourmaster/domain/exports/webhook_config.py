"""The ``ValidatingWebhookConfiguration`` and ``MutatingWebhookConfiguration`` of one environment.

The API server sends harbourmaster's webhook (``/validate/{environment}`` and ``/mutate/{environment}``)
every CREATE and UPDATE of a Pod (and its ``ephemeralcontainers`` subresource), Deployment,
StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job and CronJob in the environment's
namespaces: ``kubernetes.io/metadata.name`` (set by the API server on every namespace, so it cannot be
forged by a namespace's owner) In those namespaces and NotIn ``kube-system`` and the webhook's own
namespace (a webhook that guards its own pods cannot be restarted when it is down).
"""

from __future__ import annotations

import base64
import copy
import urllib.parse
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.model import Environment, EnvironmentKind
from harbourmaster.errors import BadInput

__all__ = ["WebhookEndpoint", "webhook_configurations"]

_NAMESPACE_LABEL = "kubernetes.io/metadata.name"
_SYSTEM_NAMESPACE = "kube-system"

RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"],
        "scope": "Namespaced",
    },
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
        "scope": "Namespaced",
    },
    {
        "apiGroups": ["batch"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["jobs", "cronjobs"],
        "scope": "Namespaced",
    },
]


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """Where the API server reaches the webhook: an HTTPS ``url``, or a Service ``namespace/name``."""

    url: str | None = None
    service_namespace: str | None = None
    service_name: str | None = None
    service_port: int = 443

    @classmethod
    def parse(cls, *, url: str | None, service: str | None) -> WebhookEndpoint:
        """Raises:
        BadInput: neither or both given, a URL that is not https with a host (the API server calls
            webhooks over TLS only) or has a query or fragment, or a service not written NS/NAME.
        """
        if (url is None) == (service is None):
            raise BadInput("give the webhook's --url or its --service NS/NAME (exactly one)")
        if url is not None:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme != "https" or not parts.hostname:
                raise BadInput(
                    f"--url {url!r}: the API server calls webhooks over https only (https://HOST[:PORT])"
                )
            if parts.query or parts.fragment or parts.username or parts.password:
                raise BadInput(f"--url {url!r}: no user information, query or fragment")
            return cls(url=url.rstrip("/"))
        assert service is not None
        namespace, slash, name = service.partition("/")
        if not slash or not namespace or not name or "/" in name:
            raise BadInput(f"--service {service!r}: write it NAMESPACE/NAME")
        return cls(service_namespace=namespace, service_name=name)

    def client_config(self, path: str, ca_bundle_pem: str | None) -> dict[str, Any]:
        config: dict[str, Any]
        if self.url is not None:
            config = {"url": f"{self.url}{path}"}
        else:
            config = {
                "service": {
                    "namespace": self.service_namespace,
                    "name": self.service_name,
                    "path": path,
                    "port": self.service_port,
                }
            }
        if ca_bundle_pem is not None:
            config["caBundle"] = base64.b64encode(ca_bundle_pem.encode()).decode()
        return config


def _check_ca_bundle(pem: str | None) -> None:
    if pem is not None and "-----BEGIN CERTIFICATE-----" not in pem:
        raise BadInput("--ca-bundle: not a PEM certificate bundle (no BEGIN CERTIFICATE)")


def _webhook(
    env: Environment,
    endpoint: WebhookEndpoint,
    *,
    kind: str,
    namespaces: list[str],
    excluded: list[str],
    ca_bundle_pem: str | None,
    timeout_seconds: int,
) -> dict[str, Any]:
    hook: dict[str, Any] = {
        "name": f"{kind}.{env.name}.harbourmaster.io",
        "clientConfig": endpoint.client_config(f"/{kind}/{env.name}", ca_bundle_pem),
        "rules": copy.deepcopy(RULES),
        "failurePolicy": env.effective_failure_policy.value,
        "matchPolicy": "Equivalent",
        "namespaceSelector": {
            "matchExpressions": [
                {"key": _NAMESPACE_LABEL, "operator": "In", "values": namespaces},
                {"key": _NAMESPACE_LABEL, "operator": "NotIn", "values": excluded},
            ]
        },
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "admissionReviewVersions": ["v1"],
    }
    if kind == "mutate":
        # The digest pin of the mutating webhook is validated again if another webhook changes the pod.
        hook["reinvocationPolicy"] = "IfNeeded"
    return hook


def webhook_configurations(
    env: Environment,
    endpoint: WebhookEndpoint,
    *,
    ca_bundle_pem: str | None = None,
    timeout_seconds: int = 5,
) -> list[dict[str, Any]]:
    """The validating and mutating configurations guarding ``env``'s namespaces.

    Without ``ca_bundle_pem`` and with a Service endpoint, cert-manager's CA injector fills the bundle
    from the Certificate of the same name (``cert-manager.io/inject-ca-from``).

    Raises:
        BadInput: ``env`` is not Kubernetes or has no namespace to guard (after leaving out
            kube-system and the webhook's own namespace), the timeout is outside 1-30 s, or the CA
            bundle is not PEM.
    """
    if env.kind is not EnvironmentKind.KUBERNETES:
        raise BadInput(
            f"environment {env.name} is {env.kind.value}: admission webhooks guard Kubernetes only"
        )
    if not 1 <= timeout_seconds <= 30:
        raise BadInput(f"--timeout {timeout_seconds}: the API server accepts 1 to 30 seconds")
    _check_ca_bundle(ca_bundle_pem)
    excluded = sorted(
        {_SYSTEM_NAMESPACE, *([endpoint.service_namespace] if endpoint.service_namespace else [])}
    )
    namespaces = [ns for ns in env.namespaces if ns not in excluded]
    if not namespaces:
        raise BadInput(
            f"environment {env.name} has no namespace to guard (kube-system and the webhook's "
            "own namespace are never guarded)"
        )
    metadata: dict[str, Any] = {
        "name": f"harbourmaster-{env.name}",
        "labels": {"app.kubernetes.io/managed-by": "harbourmaster", "harbourmaster.io/environment": env.name},
    }
    if ca_bundle_pem is None and endpoint.service_name is not None:
        metadata["annotations"] = {
            "cert-manager.io/inject-ca-from": f"{endpoint.service_namespace}/{endpoint.service_name}"
        }
    documents = []
    for api_kind, kind in (
        ("ValidatingWebhookConfiguration", "validate"),
        ("MutatingWebhookConfiguration", "mutate"),
    ):
        documents.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": api_kind,
                "metadata": copy.deepcopy(metadata),
                "webhooks": [
                    _webhook(
                        env,
                        endpoint,
                        kind=kind,
                        namespaces=namespaces,
                        excluded=excluded,
                        ca_bundle_pem=ca_bundle_pem,
                        timeout_seconds=timeout_seconds,
                    )
                ],
            }
        )
    return documents
