"""The kubelet credential provider exec protocol (KEP-2133, ``credentialprovider.kubelet.k8s.io/v1``).

The kubelet execs the plugin for every image pull its cache cannot answer, writes a
``CredentialProviderRequest`` on its stdin and reads a ``CredentialProviderResponse`` from its stdout.
A failed plugin (non-zero exit) means "no credentials" for that pull, so every failure here exits 1
with one line on stderr and writes nothing on stdout.

The pull waits for the exec, so this module imports only the standard library and harbourmaster's
leaf modules: no pydantic, httpx, YAML or JWT library. What it needs from the server is a ``fetch``
callable, given by the caller.
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final

from harbourmaster.domain.exports.credential_provider_config import REQUEST_API_VERSION, go_duration
from harbourmaster.errors import BadInput, Error

__all__ = [
    "API_VERSION",
    "CacheKeyType",
    "CredentialProviderRequest",
    "CredentialProviderResponse",
    "Fetch",
    "ProtocolError",
    "RegistryAuth",
    "auth_key",
    "cache_seconds",
    "run",
]

API_VERSION: Final = REQUEST_API_VERSION
_REQUEST_KIND: Final = "CredentialProviderRequest"
_RESPONSE_KIND: Final = "CredentialProviderResponse"
_MAX_REQUEST_BYTES: Final = 1024 * 1024
_SHOWN: Final = 80

#: ``fetch(image, service_account_token) -> (username, password, ttl_seconds)``, or None when the
#: image's registry needs no credential (answered with no ``auth``: the kubelet pulls anonymously).
Fetch = Callable[[str, str | None], tuple[str, str, int] | None]


class ProtocolError(BadInput):
    """The kubelet's request is not a ``CredentialProviderRequest`` this plugin understands."""

    kind = "credential-provider-protocol"


class CacheKeyType(enum.StrEnum):
    """What the kubelet keys its cache of the answered credential by."""

    IMAGE = "Image"
    REGISTRY = "Registry"
    GLOBAL = "Global"


@dataclass(frozen=True, slots=True)
class CredentialProviderRequest:
    """One pull's request: the image and, with KEP-4412, the pod's service-account token."""

    image: str
    service_account_token: str | None = field(default=None, repr=False)
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes) -> CredentialProviderRequest:
        """Read the request the kubelet wrote on stdin.

        Raises:
            ProtocolError: not a JSON object, another apiVersion or kind, no image, or a field of
                the wrong type.
        """
        if len(data) > _MAX_REQUEST_BYTES:
            raise ProtocolError(f"the request is larger than {_MAX_REQUEST_BYTES} bytes")
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"the request on stdin is not JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise ProtocolError("the request on stdin is not a JSON object")
        api_version = document.get("apiVersion")
        if api_version != API_VERSION:
            raise ProtocolError(
                f"apiVersion {_show(api_version)} is not supported: set apiVersion: {API_VERSION} "
                "for this provider in the kubelet's credential provider config"
            )
        if document.get("kind") != _REQUEST_KIND:
            raise ProtocolError(f"kind {_show(document.get('kind'))} is not {_REQUEST_KIND}")
        image = document.get("image")
        if not isinstance(image, str) or not image.strip():
            raise ProtocolError("the request has no image")
        token = document.get("serviceAccountToken")
        if token is not None and not isinstance(token, str):
            raise ProtocolError("serviceAccountToken is not a string")
        annotations = document.get("serviceAccountAnnotations") or {}
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ProtocolError("serviceAccountAnnotations is not a map of strings")
        return cls(
            image=image.strip(),
            service_account_token=token or None,
            service_account_annotations=dict(annotations),
        )


@dataclass(frozen=True, slots=True)
class RegistryAuth:
    """A registry credential as the kubelet takes it."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class CredentialProviderResponse:
    """The answer: credentials per ``matchImages``-style key, and how long the kubelet may cache them
    (``None``: the config's ``defaultCacheDuration``; 0: not at all)."""

    cache_key_type: CacheKeyType
    auth: Mapping[str, RegistryAuth]
    cache_seconds: int | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "apiVersion": API_VERSION,
            "kind": _RESPONSE_KIND,
            "cacheKeyType": self.cache_key_type.value,
        }
        if self.cache_seconds is not None:
            document["cacheDuration"] = go_duration(self.cache_seconds)
        document["auth"] = {
            key: {"username": auth.username, "password": auth.password} for key, auth in self.auth.items()
        }
        return document

    def to_json(self) -> bytes:
        return json.dumps(self.to_document(), separators=(",", ":")).encode()


def auth_key(image: str, cache_key_type: CacheKeyType) -> str:
    """The ``auth`` key the credential is answered under: the image's repository
    (``harbor.corp:8443/payments/api``, no tag or digest) for :attr:`CacheKeyType.IMAGE`, its registry
    host and port for the other two. Images without a registry host are Docker Hub's, as the kubelet
    reads them."""
    name = image.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name = name[:colon]
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", name if "/" in name else f"library/{name}"
    if cache_key_type is CacheKeyType.IMAGE:
        return f"{first}/{rest}"
    return first


def cache_seconds(ttl_seconds: int) -> int:
    """How long the kubelet may cache a credential valid for ``ttl_seconds``: a fifth of its life,
    at most a minute, is kept back so that a pull started from the cache still finishes in time."""
    if ttl_seconds <= 0:
        return 0
    return ttl_seconds - min(60, ttl_seconds // 5)


def run(
    stdin: IO[bytes],
    stdout: IO[bytes],
    fetch: Fetch,
    *,
    stderr: IO[str] | None = None,
    cache_key_type: CacheKeyType = CacheKeyType.IMAGE,
) -> int:
    """Answer one kubelet request: read it from ``stdin``, ask ``fetch`` for the credential, write the
    response on ``stdout``. Returns the exit code: 0, or 1 after one line on ``stderr`` (and nothing
    on ``stdout``) when the request, ``fetch`` or the credential failed."""
    err = stderr if stderr is not None else sys.stderr
    try:
        request = CredentialProviderRequest.parse(stdin.read(_MAX_REQUEST_BYTES + 1))
        fetched = fetch(request.image, request.service_account_token)
        if fetched is None:
            payload = CredentialProviderResponse(cache_key_type=cache_key_type, auth={}).to_json()
            stdout.write(payload)
            stdout.flush()
            return 0
        username, password, ttl = fetched
        if not isinstance(username, str) or not isinstance(password, str):
            raise ProtocolError("the credential server answered a username or password that is not text")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
            raise ProtocolError("the credential server answered a lifetime that is not whole seconds >= 0")
        response = CredentialProviderResponse(
            cache_key_type=cache_key_type,
            auth={auth_key(request.image, cache_key_type): RegistryAuth(username, password)},
            cache_seconds=cache_seconds(ttl),
        )
        payload = response.to_json()
    except Error as exc:
        _fail(err, exc.message)
        return 1
    except Exception as exc:  # the kubelet must get a clean "no credentials", whatever broke
        _fail(err, f"unexpected {type(exc).__name__}")
        return 1
    stdout.write(payload)
    stdout.flush()
    return 0


def _fail(stderr: IO[str], message: str) -> None:
    line = " ".join(message.split())
    stderr.write(f"harbourmaster credential-provider: {line}\n")
    stderr.flush()


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
