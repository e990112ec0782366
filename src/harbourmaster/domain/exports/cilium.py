"""``CiliumNetworkPolicy`` egress rules: a namespace's pods reach only the registries granted there.

One namespaced policy per namespace of the environment (not one cluster-wide policy): each namespace
gets exactly the hosts of its own grants, so a namespace granted ``harbor.corp/payments`` alone
cannot reach ``ecr`` because another namespace may.  Each policy selects every pod of its namespace
and allows DNS to kube-dns (with Cilium's DNS proxy watching the answers, which ``toFQDNs`` needs) and
egress to each registry host by exact name (``matchName``, never a pattern) on its port: the one in
the registry URL, else 443 for https and 80 for http.  A registry given by IP address is allowed by
``toCIDR`` (a /32 or /128), as FQDN rules match names only.  A Docker Hub grant allows the hosts a
pull from Docker Hub talks to (its API, token and blob hosts).

Cilium policies are allow-lists that add up: selecting a pod makes its egress default-deny, and any
other egress the namespace's applications need is allowed by the site's own policies beside these.
Pulls by the kubelet run on the node, not in the pod; these rules confine what workloads themselves
reach (the registry layer, seed 5.5), the admission rules confine what the kubelet is asked to pull.
"""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

from harbourmaster.domain.admission_rules import AdmissionRules, NamespaceSources
from harbourmaster.domain.matching import RegistryLocation
from harbourmaster.domain.reference import DEFAULT_DOMAIN

__all__ = ["DOCKER_HUB_PULL_HOSTS", "cilium_policies"]

#: The hosts a pull from Docker Hub contacts: the registry API, its token service and the blob CDN.
DOCKER_HUB_PULL_HOSTS = ("auth.docker.io", "production.cloudflare.docker.com", "registry-1.docker.io")

_DNS_RULE: dict[str, Any] = {
    "toEndpoints": [
        {"matchLabels": {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}}
    ],
    "toPorts": [
        {
            "ports": [{"port": "53", "protocol": "UDP"}, {"port": "53", "protocol": "TCP"}],
            "rules": {"dns": [{"matchPattern": "*"}]},
        }
    ],
}


def _host_and_port(location: RegistryLocation) -> tuple[str, str]:
    host = location.host
    if host.startswith("["):
        end = host.index("]")
        name, rest = host[1:end], host[end + 1 :]
    else:
        name, _, port = host.partition(":")
        rest = f":{port}" if port else ""
    default = "443" if location.scheme == "https" else "80"
    return name, rest[1:] if rest else default


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _egress(sources: NamespaceSources) -> list[dict[str, Any]]:
    by_port: dict[str, set[str]] = {}
    for location in sources.locations:
        if location.host == DEFAULT_DOMAIN:
            by_port.setdefault("443", set()).update(DOCKER_HUB_PULL_HOSTS)
            continue
        name, port = _host_and_port(location)
        by_port.setdefault(port, set()).add(name)
    rules: list[dict[str, Any]] = [copy.deepcopy(_DNS_RULE)]
    for port, names in sorted(by_port.items()):
        to_ports = [{"ports": [{"port": port, "protocol": "TCP"}]}]
        fqdns = sorted(n for n in names if not _is_ip(n))
        ips = sorted(n for n in names if _is_ip(n))
        if fqdns:
            rules.append({"toFQDNs": [{"matchName": n} for n in fqdns], "toPorts": to_ports})
        if ips:
            cidrs = [f"{ip}/{ipaddress.ip_address(ip).max_prefixlen}" for ip in ips]
            rules.append({"toCIDR": cidrs, "toPorts": to_ports})
    return rules


def cilium_policies(rules: AdmissionRules) -> list[dict[str, Any]]:
    """One ``CiliumNetworkPolicy`` per namespace of the environment."""
    return [
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {
                "name": f"harbourmaster-registry-egress-{rules.environment}",
                "namespace": sources.namespace,
                "annotations": {"harbourmaster.io/environment": rules.environment},
            },
            "spec": {
                "description": (
                    f"Egress of namespace {sources.namespace} to the registries granted there on "
                    f"environment {rules.environment}: {', '.join(sources.prefixes) or 'none'}"
                ),
                "endpointSelector": {},
                "egress": _egress(sources),
            },
        }
        for sources in rules.namespaces
    ]
