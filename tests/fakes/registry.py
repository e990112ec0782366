"""OCI distribution registries held in memory, reached through ``httpx.MockTransport``.

:func:`registry_clients` returns the real
:class:`~harbourmaster.registry.factory.HttpxClientFactory` with a mock
transport that routes each request to the :class:`FakeRegistry` of its host:
the real client, its authentication and TLS policy, and no socket.  A host no
fake answers for fails as an unreachable registry does (``httpx.ConnectError``).
Each fake keeps the requests it answered, so tests can see which credential
was sent where.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx

from harbourmaster.registry.factory import HttpxClientFactory
from harbourmaster.registry.media import OCI_MANIFEST

__all__ = ["FakeRegistry", "registry_clients"]

_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs|tags)/(?P<ref>[^/]+)$")
_CONFIG = "application/vnd.oci.image.config.v1+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _BlobStream(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self):  # type: ignore[override]
        yield self._data


def _media_type(manifest: bytes) -> str:
    """The manifest's own ``mediaType`` (an index is served as one), else an OCI image manifest."""
    try:
        declared = json.loads(manifest).get("mediaType")
    except (ValueError, AttributeError):
        return OCI_MANIFEST
    return declared if isinstance(declared, str) else OCI_MANIFEST


def _errors(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    body = {"errors": [{"code": code, "message": message}]}
    return httpx.Response(status, json=body, headers=headers)


class FakeRegistry:
    """One registry at ``host``: images pushed with :meth:`push`, anonymous unless ``username`` and
    ``password`` are given (then every request needs them as HTTP Basic auth)."""

    def __init__(self, host: str, *, username: str | None = None, password: str | None = None) -> None:
        self.host = host
        self._basic = (
            None
            if username is None
            else "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        )
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.blobs: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []

    def __repr__(self) -> str:
        return f"FakeRegistry({self.host!r})"

    def push(self, repository: str, tag: str, *, config: bytes = b'{"architecture": "amd64", "os": "linux"}'
             ) -> str:
        """Store an image (a config, no layers) under ``repository:tag``; its manifest digest."""
        config_digest = _digest(config)
        self.blobs[config_digest] = config
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": _CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [],
        }).encode()
        digest = _digest(manifest)
        self.manifests[(repository, tag)] = manifest
        self.manifests[(repository, digest)] = manifest
        return digest

    @property
    def authorizations(self) -> list[str | None]:
        """The ``Authorization`` header of each request answered, in order."""
        return [r.headers.get("Authorization") for r in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self._basic is not None and request.headers.get("Authorization") != self._basic:
            return _errors(401, "UNAUTHORIZED", "authentication required",
                           **{"WWW-Authenticate": 'Basic realm="fake"'})
        path = request.url.path
        if path == "/v2/":
            return httpx.Response(200, json={}, headers={"Docker-Distribution-API-Version": "registry/2.0"})
        if path == "/v2/_catalog":
            return httpx.Response(200, json={"repositories": sorted({r for r, _ in self.manifests})})
        match = _PATH.match(path)
        if match is None:
            return _errors(404, "NAME_UNKNOWN", "no such route")
        name, kind, ref = match["name"], match["kind"], match["ref"]
        if kind == "tags" and ref == "list":
            tags = sorted(t for r, t in self.manifests if r == name and not t.startswith("sha256:"))
            if not tags:
                return _errors(404, "NAME_UNKNOWN", f"repository {name} not known")
            return httpx.Response(200, json={"name": name, "tags": tags})
        if kind == "manifests":
            manifest = self.manifests.get((name, ref))
            if manifest is None:
                return _errors(404, "MANIFEST_UNKNOWN", f"manifest {ref} not known")
            headers = {"Content-Type": _media_type(manifest), "Docker-Content-Digest": _digest(manifest)}
            if request.method == "HEAD":
                return httpx.Response(200, headers={**headers, "Content-Length": str(len(manifest))})
            return httpx.Response(200, content=manifest, headers=headers)
        blob = self.blobs.get(ref)
        if kind == "blobs" and blob is not None:
            # A stream, as a real transport gives (a ``content=`` response is read at once and
            # cannot be streamed again, which the client's blob reads do).
            return httpx.Response(200, stream=_BlobStream(blob),
                                  headers={"Docker-Content-Digest": ref, "Content-Length": str(len(blob))})
        return _errors(404, "BLOB_UNKNOWN", f"blob {ref} not known")


def registry_clients(*registries: FakeRegistry) -> HttpxClientFactory:
    """The real client factory, every request answered by the fake registry of its host."""
    by_host = {r.host: r for r in registries}

    def route(request: httpx.Request) -> httpx.Response:
        registry = by_host.get(request.url.netloc.decode("ascii"))
        if registry is None:
            raise httpx.ConnectError(f"no fake registry at {request.url.host}", request=request)
        return registry.handle(request)

    return HttpxClientFactory(transport=httpx.MockTransport(route))
