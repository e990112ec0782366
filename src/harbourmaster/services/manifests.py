"""``webhook manifests`` and ``install-manifests``: the Kubernetes documents that put harbourmaster's
admission webhook in front of an environment, and harbourmaster itself on a cluster."""

from __future__ import annotations

from typing import Any

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.exports.install import InstallOptions, install_documents
from harbourmaster.domain.exports.webhook_config import WebhookEndpoint, webhook_configurations
from harbourmaster.domain.model import EnvironmentKind
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment

__all__ = ["InstallOptions", "install_manifests", "webhook_manifests"]


def webhook_manifests(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    url: str | None = None,
    service: str | None = None,
    ca_bundle_pem: str | None = None,
    timeout_seconds: int = 5,
) -> list[dict[str, Any]]:
    """The ValidatingWebhookConfiguration and MutatingWebhookConfiguration of ``environment``.

    Raises:
        Forbidden: ``principal`` may not read the governance model.
        NotFound: no such environment.
        BadInput: see :meth:`WebhookEndpoint.parse` and :func:`webhook_configurations`.
    """
    require(principal, Permission.GOVERNANCE_READ)
    endpoint = WebhookEndpoint.parse(url=url, service=service)
    env = named_environment(hm.snapshot(), environment)
    return webhook_configurations(env, endpoint, ca_bundle_pem=ca_bundle_pem, timeout_seconds=timeout_seconds)


def install_manifests(
    hm: Harbourmaster, principal: Principal, options: InstallOptions, *, ca_bundle_pem: str | None = None
) -> list[dict[str, Any]]:
    """harbourmaster's own deployment, followed by the webhook configurations of every Kubernetes
    environment of the model, pointed at the webhook Service the deployment creates.

    Raises:
        Forbidden: ``principal`` may not read the governance model.
        BadInput: a CA bundle that is not PEM.
    """
    require(principal, Permission.GOVERNANCE_READ)
    documents = install_documents(options)
    endpoint = WebhookEndpoint(service_namespace=options.namespace, service_name="harbourmaster-webhook")
    snapshot = hm.snapshot()
    for env in sorted(snapshot.environments.values(), key=lambda e: e.name):
        guarded = [ns for ns in env.namespaces if ns not in ("kube-system", options.namespace)]
        if env.kind is EnvironmentKind.KUBERNETES and guarded:
            documents += webhook_configurations(env, endpoint, ca_bundle_pem=ca_bundle_pem)
    return documents
