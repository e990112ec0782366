"""The kubelet's ``CredentialProviderConfig`` (``kubelet.config.k8s.io/v1``) for one environment.

The kubelet runs ``harbourmaster credential-provider`` (an executable named ``harbourmaster`` in its
``--image-credential-provider-bin-dir``) for every image pulled from one of the environment's
registries, handing it a service-account token of the pod for audience ``harbourmaster``
(KEP-4412: ``tokenAttributes``). Field names and values follow the upstream Go types
(``k8s.io/kubelet/config/v1`` ``CredentialProvider`` and ``ServiceAccountTokenAttributes``, Kubernetes
v1.34, where ``cacheType`` became required).

``cacheType: ServiceAccount`` makes the kubelet cache a credential per service account, not per
token: the credential harbourmaster answers depends on the service account's namespace (the grant),
never on the pod. The document is a plain mapping; the surface writes it as YAML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from harbourmaster.errors import BadInput

__all__ = [
    "CONFIG_API_VERSION",
    "ENV_CA_FILE",
    "ENV_ENVIRONMENT",
    "ENV_SERVER_URL",
    "ENV_TOKEN_FILE",
    "PROVIDER_NAME",
    "REQUEST_API_VERSION",
    "TOKEN_AUDIENCE",
    "CredentialProviderSettings",
    "credential_provider_config",
    "go_duration",
    "validate_match_image",
]

CONFIG_API_VERSION: Final = "kubelet.config.k8s.io/v1"
REQUEST_API_VERSION: Final = "credentialprovider.kubelet.k8s.io/v1"
#: The executable's name in the kubelet's bin directory, and the provider's name (they must match).
PROVIDER_NAME: Final = "harbourmaster"
TOKEN_AUDIENCE: Final = "harbourmaster"
#: The environment variables the plugin reads (set by the config's ``env``); not harbourmaster settings,
#: which the server reads as HARBOURMASTER_*, so they carry a prefix of their own.
ENV_SERVER_URL: Final = "HM_CREDENTIAL_PROVIDER_SERVER_URL"
ENV_CA_FILE: Final = "HM_CREDENTIAL_PROVIDER_SERVER_CA_FILE"
ENV_TOKEN_FILE: Final = "HM_CREDENTIAL_PROVIDER_NODE_TOKEN_FILE"
ENV_ENVIRONMENT: Final = "HM_CREDENTIAL_PROVIDER_ENVIRONMENT"

# kubelet matchImages: HOST[:PORT][/PATH]; globs (`*`) in host labels only, each matching within one
# label (`*.k8s.io`, `k8s.*.io`, `app*.k8s.io`, `k8s.*`); no scheme, tag or digest.
_LABEL: Final = re.compile(r"^[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?$")
_PATH_COMPONENT: Final = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_MAX_CACHE_SECONDS: Final = 24 * 3600


@dataclass(frozen=True, slots=True)
class CredentialProviderSettings:
    """Where the plugin on each node reaches harbourmaster, and how it authenticates the node."""

    server_url: str
    ca_file: str
    node_token_file: str


def credential_provider_config(
    *,
    environment: str,
    match_images: Sequence[str],
    settings: CredentialProviderSettings,
    default_cache_seconds: int = 300,
) -> dict[str, Any]:
    """The ``CredentialProviderConfig`` document for ``environment``'s registries.

    Raises:
        BadInput: no image pattern, one that is not kubelet ``matchImages`` syntax, a server URL that
            is not https, a file path that is not absolute, or a cache duration outside 0-24h.
    """
    if not environment:
        raise BadInput("the environment's name is empty")
    patterns = [validate_match_image(pattern) for pattern in match_images]
    if not patterns:
        raise BadInput(f"environment {environment!r} has no registry to match: matchImages would be empty")
    if not settings.server_url.startswith("https://") or len(settings.server_url) <= len("https://"):
        raise BadInput(
            f"server URL {settings.server_url!r}: the plugin reaches harbourmaster over https only"
        )
    for label, path in (("CA file", settings.ca_file), ("node token file", settings.node_token_file)):
        if not path.startswith("/"):
            raise BadInput(f"{label} {path!r}: give an absolute path on the node")
    if not 0 <= default_cache_seconds <= _MAX_CACHE_SECONDS:
        raise BadInput(f"default cache duration {default_cache_seconds}s is outside 0s-24h")
    provider: dict[str, Any] = {
        "name": PROVIDER_NAME,
        "matchImages": list(dict.fromkeys(patterns)),
        "defaultCacheDuration": go_duration(default_cache_seconds),
        "apiVersion": REQUEST_API_VERSION,
        "args": ["credential-provider"],
        "env": [
            {"name": ENV_SERVER_URL, "value": settings.server_url.rstrip("/")},
            {"name": ENV_CA_FILE, "value": settings.ca_file},
            {"name": ENV_TOKEN_FILE, "value": settings.node_token_file},
            {"name": ENV_ENVIRONMENT, "value": environment},
        ],
        "tokenAttributes": {
            "serviceAccountTokenAudience": TOKEN_AUDIENCE,
            "requireServiceAccount": True,
            "cacheType": "ServiceAccount",
        },
    }
    return {"apiVersion": CONFIG_API_VERSION, "kind": "CredentialProviderConfig", "providers": [provider]}


def validate_match_image(pattern: str) -> str:
    """Check one kubelet ``matchImages`` entry (``HOST[:PORT][/PATH]``, globs in host labels only)
    and return it lower-cased.

    Raises:
        BadInput: a scheme, tag or digest, an empty or malformed host label, a glob in the port or
            path, or a port that is not 1-65535.
    """
    text = pattern.strip().lower()
    if not text or "://" in text or "@" in text:
        raise BadInput(f"matchImages entry {pattern!r}: write HOST[:PORT][/PATH], without scheme or digest")
    hostport, _, path = text.partition("/")
    host, colon, port = hostport.partition(":")
    if colon and not (port.isdigit() and 0 < int(port) < 65536):
        raise BadInput(f"matchImages entry {pattern!r}: the port must be a number 1-65535, without globs")
    labels = host.split(".")
    if not host or any(not _LABEL.match(label) for label in labels):
        raise BadInput(
            f"matchImages entry {pattern!r}: the host must be DNS labels, each may hold '*' globs "
            "(one glob matches within one label)"
        )
    if path and any(not _PATH_COMPONENT.match(component) for component in path.split("/")):
        raise BadInput(
            f"matchImages entry {pattern!r}: the path must be repository components, without globs or tag"
        )
    return text


def go_duration(seconds: int) -> str:
    """Whole seconds as Go's ``time.Duration.String()`` writes them (``0s``, ``45s``, ``5m0s``,
    ``1h0m0s``): what a ``metav1.Duration`` field holds.

    Raises:
        ValueError: a negative duration.
    """
    if seconds < 0:
        raise ValueError("a cache duration cannot be negative")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
