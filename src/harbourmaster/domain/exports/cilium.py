"""``CiliumNetworkPolicy`` egress rules: a namespace's pods reach only the registries granted there.

One namespaced policy per namespace of the environment (not one cluster-wide policy): each namespace
gets exactly the hosts of its own grants, so a namespace granted ``harbor.corp/payments`` alone
cannot reach ``ecr`` because another namespace may.  Each policy selects every pod of its namespace
and allows DNS to kube-dns (with Cilium's DNS proxy watching the answers, which ``toFQDNs`` needs) and
egress to each registry host by exact name (``matchName``) on its port: the one in the registry URL,
else 443 for https and 80 for http.  A registry given by IP address is allowed by ``toCIDR`` (a /32 or
/128), as FQDN rules match names only.  A Docker Hub grant allows its API and token hosts.

Blob hosts.  The public registry services do not serve image layers themselves: a blob ``GET``
answers with a redirect (307) to a storage or CDN host, and a pull that may reach only the registry
host fails there.  :func:`blob_hosts` knows those hosts per provider, recognised from the registry
host (the export is made from :class:`~harbourmaster.domain.admission_rules.AdmissionRules`, which
carries locations, and a service's host says what it is better than a declared provider does: a
``quay`` registry on ``quay.corp`` is a self-hosted Quay that does not use ``cdn.quay.io``).  They
are allowed on 443 in a rule of their own, named in the policy's description:

* Docker Hub: ``production.cloudflare.docker.com``, ``production.cloudfront.docker.com`` and
  Docker's R2 bucket host (anonymous and personal pulls), as Docker's allow-list documents;
* GHCR (``ghcr.io``): ``pkg-containers.githubusercontent.com``;
* Quay (``quay.io``): ``cdn*.quay.io`` (``cdn``, ``cdn01`` ... ``cdn03``; Cilium's ``*`` stays within
  one DNS label);
* ECR (``<account>.dkr.ecr.<region>.amazonaws.com``): the region's layer bucket,
  ``prod-<region>-starport-layer-bucket.s3.<region>.amazonaws.com`` and its global name
  (``.s3.amazonaws.com``; in China the regional ``.amazonaws.com.cn`` name only);
* GCR (``gcr.io``, ``<region>.gcr.io``): ``storage.googleapis.com``.  Artifact Registry
  (``<location>-docker.pkg.dev``) redirects to ``/artifacts-downloads/`` on its own host: nothing more;
* ACR (``<name>.azurecr.io``): its dedicated data endpoints, ``<name>.*.data.azurecr.io``.  Without
  them ACR redirects to an opaque ``*.blob.core.windows.net`` storage account, which is not allowed:
  that pattern opens every Azure storage account, a way out for data; enable dedicated data endpoints;
* GitLab.com (``registry.gitlab.com``): ``cdn.registry.gitlab-static.net`` and
  ``storage.googleapis.com``.

Self-hosted registries (Harbor, ProGet, GitLab or Quay on a site's own host, ``custom``) get nothing
more: they serve blobs themselves.  One whose storage driver redirects downloads to an object store
(S3, GCS, Azure Blob with redirects on) needs that storage host allowed by a site policy beside these;
so do public hosts outside this list (``public.ecr.aws``, ``mcr.microsoft.com``, ``registry.k8s.io``).
Wildcards over a whole cloud's storage (``*.s3.amazonaws.com``, ``*.cloudfront.net``,
``*.blob.core.windows.net``) are never written.

Cilium policies are allow-lists that add up: selecting a pod makes its egress default-deny, and any
other egress the namespace's applications need is allowed by the site's own policies beside these.
Pulls by the kubelet run on the node, not in the pod; these rules confine what workloads themselves
reach (the registry layer, seed 5.5), the admission rules confine what the kubelet is asked to pull.
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.admission_rules import AdmissionRules, NamespaceSources
from harbourmaster.domain.matching import RegistryLocation
from harbourmaster.domain.model import Provider
from harbourmaster.domain.reference import DEFAULT_DOMAIN

__all__ = [
    "DOCKER_HUB_API_HOSTS",
    "DOCKER_HUB_BLOB_HOSTS",
    "DOCKER_HUB_PULL_HOSTS",
    "BlobHosts",
    "blob_hosts",
    "cilium_policies",
]

#: Docker Hub's registry API and its token service.
DOCKER_HUB_API_HOSTS = ("auth.docker.io", "registry-1.docker.io")
#: Where Docker Hub redirects blob downloads (Docker's documented allow-list): its two CDNs and the
#: Cloudflare R2 bucket that serves anonymous and personal-plan pulls.
DOCKER_HUB_BLOB_HOSTS = (
    "docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com",
    "production.cloudflare.docker.com",
    "production.cloudfront.docker.com",
)
#: Every host a pull from Docker Hub contacts.
DOCKER_HUB_PULL_HOSTS = tuple(sorted(DOCKER_HUB_API_HOSTS + DOCKER_HUB_BLOB_HOSTS))


@dataclass(frozen=True, slots=True)
class BlobHosts:
    """The hosts a registry service redirects blob downloads to, as Cilium FQDN selectors."""

    provider: Provider
    #: Exact names (``matchName``).
    names: tuple[str, ...] = ()
    #: Patterns (``matchPattern``: ``*`` is zero or more characters of one DNS label).
    patterns: tuple[str, ...] = ()

    def selectors(self) -> list[dict[str, str]]:
        return [{"matchName": n} for n in self.names] + [{"matchPattern": p} for p in self.patterns]


_GHCR = BlobHosts(Provider.GHCR, names=("pkg-containers.githubusercontent.com",))
_QUAY = BlobHosts(Provider.QUAY, patterns=("cdn*.quay.io",))
_GCR = BlobHosts(Provider.GAR, names=("storage.googleapis.com",))
_GITLAB_COM = BlobHosts(Provider.GITLAB, names=("cdn.registry.gitlab-static.net", "storage.googleapis.com"))
_BY_NAME = {
    DEFAULT_DOMAIN: BlobHosts(Provider.DOCKERHUB, names=DOCKER_HUB_BLOB_HOSTS),
    "ghcr.io": _GHCR,
    "quay.io": _QUAY,
    "gcr.io": _GCR,
    "registry.gitlab.com": _GITLAB_COM,
}
_GCR_REGIONAL = re.compile(r"[a-z]+\.gcr\.io")
_ECR = re.compile(r"[0-9]{12}\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?")
_ACR = re.compile(r"(?P<name>[a-z0-9]+)\.azurecr\.io")


def blob_hosts(host: str) -> BlobHosts | None:
    """The blob hosts of the public registry service at ``host`` (a name without port), or None when
    the registry serves its blobs itself as far as harbourmaster knows (see the module)."""
    name = host.lower().rstrip(".")
    if name in _BY_NAME:
        return _BY_NAME[name]
    if _GCR_REGIONAL.fullmatch(name):
        return _GCR
    if found := _ECR.fullmatch(name):
        region, bucket = found["region"], f"prod-{found['region']}-starport-layer-bucket"
        if found["cn"]:
            return BlobHosts(Provider.ECR, names=(f"{bucket}.s3.{region}.amazonaws.com.cn",))
        return BlobHosts(
            Provider.ECR, names=(f"{bucket}.s3.amazonaws.com", f"{bucket}.s3.{region}.amazonaws.com")
        )
    if found := _ACR.fullmatch(name):
        return BlobHosts(Provider.ACR, patterns=(f"{found['name']}.*.data.azurecr.io",))
    return None


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


def _redirects(sources: NamespaceSources) -> dict[str, BlobHosts]:
    """The blob hosts of each registry host of ``sources`` whose service redirects blob downloads."""
    found: dict[str, BlobHosts] = {}
    for location in sources.locations:
        name, _ = _host_and_port(location)
        hosts = None if _is_ip(name) else blob_hosts(name)
        if hosts is not None:
            found[location.host] = hosts
    return found


def _egress(sources: NamespaceSources) -> list[dict[str, Any]]:
    by_port: dict[str, set[str]] = {}
    for location in sources.locations:
        if location.host == DEFAULT_DOMAIN:
            by_port.setdefault("443", set()).update(DOCKER_HUB_API_HOSTS)
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
    redirects = _redirects(sources)
    if redirects:
        selectors = {tuple(s.items()) for hosts in redirects.values() for s in hosts.selectors()}
        rules.append(
            {
                "toFQDNs": [dict(s) for s in sorted(selectors)],
                "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
            }
        )
    return rules


def _description(environment: str, sources: NamespaceSources) -> str:
    text = (
        f"Egress of namespace {sources.namespace} to the registries granted there on "
        f"environment {environment}: {', '.join(sources.prefixes) or 'none'}"
    )
    redirects = _redirects(sources)
    if redirects:
        listed = "; ".join(
            f"{host} ({hosts.provider.value}): "
            + ", ".join(s.get("matchName") or s["matchPattern"] for s in hosts.selectors())
            for host, hosts in sorted(redirects.items())
        )
        text += f". Blob downloads redirect to storage hosts, allowed on 443: {listed}"
    return text


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
                "description": _description(rules.environment, sources),
                "endpointSelector": {},
                "egress": _egress(sources),
            },
        }
        for sources in rules.namespaces
    ]
