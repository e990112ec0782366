"""Manifest operations: HEAD/GET by tag or digest, resolve, PUT, DELETE, referrers.

The manifest half of :class:`~harbourmaster.registry.client.RegistryClient`.
A manifest is read with a 4 MiB cap, checked against its ``Content-Type`` and
its digest (the one asked for, or ``Docker-Content-Digest``) before it is
returned.  Pushing a manifest with a ``subject`` to a registry without the
referrers API maintains the ``<alg>-<hex>`` referrers tag, as the spec asks.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from harbourmaster.domain.digest import REGISTERED_ALGORITHMS
from harbourmaster.registry._session import status_error
from harbourmaster.registry.errors import (
    ManifestError,
    NotFoundInRegistry,
    ProtocolError,
    RegistryError,
    translate_transport_error,
)
from harbourmaster.registry.media import (
    MANIFEST_ACCEPT,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    Descriptor,
    Digest,
    ImageIndex,
    ImageManifest,
    compute_digest,
    parse_digest,
    parse_manifest,
    referrers_tag,
    validate_repository,
    validate_tag,
)

if TYPE_CHECKING:
    from harbourmaster.registry._session import RegistrySession
    from harbourmaster.registry.client import RegistryEndpoint

__all__ = ["FetchedManifest", "ManifestHead", "ManifestOperations", "Referrers", "repository_scope"]


@dataclass(frozen=True)
class ManifestHead:
    """What ``HEAD`` on a manifest tells: digest (if the registry sends it), media type, size."""

    digest: Digest | None
    media_type: str | None
    size: int | None


@dataclass(frozen=True)
class FetchedManifest:
    """A manifest's exact bytes, their digest, and the parsed document."""

    digest: Digest
    media_type: str
    raw: bytes = field(repr=False)
    parsed: ImageManifest | ImageIndex


@dataclass(frozen=True)
class Referrers:
    """Manifests that refer to a subject, and whether the API or the tag schema supplied them."""

    descriptors: tuple[Descriptor, ...]
    via: str  # "api" | "tag-schema"


def repository_scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


class ManifestOperations:
    """Manifest and referrers operations over a :class:`RegistrySession`."""

    _session: RegistrySession
    endpoint: RegistryEndpoint

    # -- small helpers ------------------------------------------------------------------------

    def _repo(self, repository: str) -> str:
        try:
            return validate_repository(repository)
        except ValueError as exc:
            raise ManifestError(str(exc), registry=self.endpoint.host, repository=repository) from None

    def _reference(self, repository: str, reference: str) -> str:
        try:
            if ":" in reference:
                return parse_digest(reference)
            return validate_tag(reference)
        except ValueError as exc:
            raise ManifestError(
                f"bad reference: {exc}", registry=self.endpoint.host, repository=repository
            ) from None

    async def referrers_supported(self, repository: str) -> bool | None:
        """Whether the registry implements the referrers API (``None``: it answered neither 200 nor 404).

        Raises:
            RegistryError: a transport or authentication failure.
        """
        repo = self._repo(repository)
        empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        response = await self._session.send(
            "GET",
            f"/v2/{repo}/referrers/{empty}",
            repository=repo,
            scopes=(repository_scope(repo),),
            headers={"Accept": OCI_INDEX},
        )
        return {200: True, 404: False}.get(response.status_code)

    # -- manifests ----------------------------------------------------------------------------

    async def head_manifest(self, repository: str, reference: str) -> ManifestHead:
        """``HEAD`` a manifest by tag or digest.

        Raises:
            NotFoundInRegistry: no such manifest.
            RegistryError: any other failure.
        """
        repo, ref = self._repo(repository), self._reference(repository, reference)
        response = await self._session.send(
            "HEAD",
            f"/v2/{repo}/manifests/{ref}",
            repository=repo,
            scopes=(repository_scope(repo),),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code != 200:
            raise status_error(response, registry=self.endpoint.host, repository=repo, what=f"manifest {ref}")
        raw_digest = response.headers.get("Docker-Content-Digest")
        digest = None
        if raw_digest:
            try:
                digest = parse_digest(raw_digest)
            except ValueError as exc:
                raise ProtocolError(
                    f"bad Docker-Content-Digest header ({exc})", registry=self.endpoint.host, repository=repo
                ) from None
        length = response.headers.get("Content-Length")
        return ManifestHead(
            digest=digest,
            media_type=response.headers.get("Content-Type"),
            size=int(length) if length and length.isdigit() else None,
        )

    async def get_manifest(self, repository: str, reference: str) -> FetchedManifest:
        """``GET`` a manifest or index by tag or digest, checked against its digest and size limit.

        Raises:
            ManifestError: malformed, over 4 MiB, wrong Content-Type, or digest mismatch.
            NotFoundInRegistry: no such manifest.
            RegistryError: any other failure.
        """
        repo, ref = self._repo(repository), self._reference(repository, reference)
        host = self.endpoint.host
        response = await self._session.send(
            "GET",
            f"/v2/{repo}/manifests/{ref}",
            repository=repo,
            scopes=(repository_scope(repo),),
            headers={"Accept": MANIFEST_ACCEPT},
            stream=True,
        )
        try:
            if response.status_code != 200:
                await response.aread()
                raise status_error(response, registry=host, repository=repo, what=f"manifest {ref}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > MAX_MANIFEST_BYTES:
                raise ManifestError(
                    f"manifest {ref} is {declared} bytes, over the 4 MiB limit",
                    registry=host,
                    repository=repo,
                )
            chunks: list[bytes] = []
            total = 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > MAX_MANIFEST_BYTES:
                    raise ManifestError(
                        f"manifest {ref} exceeds the 4 MiB limit", registry=host, repository=repo
                    )
                chunks.append(chunk)
        except (httpx.TransportError, ssl.SSLError) as exc:
            raise translate_transport_error(exc, registry=host, repository=repo) from None
        finally:
            await response.aclose()
        raw = b"".join(chunks)
        content_type = response.headers.get("Content-Type")
        try:
            parsed = parse_manifest(raw, content_type=content_type)
        except ValueError as exc:
            raise ManifestError(
                f"manifest {ref} is not acceptable: {exc}", registry=host, repository=repo
            ) from None
        expected = ref if ":" in ref else response.headers.get("Docker-Content-Digest")
        algorithm = expected.split(":")[0] if expected and ":" in expected else "sha256"
        if algorithm not in REGISTERED_ALGORITHMS:
            raise ManifestError(f"unsupported digest algorithm {algorithm!r}", registry=host, repository=repo)
        actual = compute_digest(raw, algorithm)
        if expected and actual != expected:
            raise ManifestError(
                f"manifest {ref} does not match its digest (expected {expected}, got {actual})",
                registry=host,
                repository=repo,
            )
        return FetchedManifest(
            digest=compute_digest(raw), media_type=parsed.media_type, raw=raw, parsed=parsed
        )

    async def resolve(self, repository: str, reference: str) -> Digest:
        """The digest ``reference`` points to now: ``HEAD`` first, ``GET`` when HEAD gives no digest.

        Raises:
            NotFoundInRegistry: no such tag.
            RegistryError: any other failure.
        """
        try:
            head = await self.head_manifest(repository, reference)
        except NotFoundInRegistry:
            raise
        except RegistryError as exc:
            if not isinstance(exc, ProtocolError) and getattr(exc, "status_code", None) not in (400, 405):
                raise
            head = ManifestHead(digest=None, media_type=None, size=None)
        if head.digest is not None and head.digest.startswith("sha256:"):
            return head.digest
        return (await self.get_manifest(repository, reference)).digest

    async def put_manifest(self, repository: str, reference: str, raw: bytes, *, media_type: str) -> Digest:
        """Upload a manifest under a tag or its digest; maintains the referrers tag schema for
        manifests with a ``subject`` when the registry has no referrers API.

        Raises:
            ManifestError: the bytes do not parse, or the registry reports another digest.
            RegistryError: the registry refused it.
        """
        repo, ref = self._repo(repository), self._reference(repository, reference)
        host = self.endpoint.host
        try:
            parsed = parse_manifest(raw, content_type=media_type)
        except ValueError as exc:
            raise ManifestError(
                f"refusing to push a bad manifest: {exc}", registry=host, repository=repo
            ) from None
        digest = compute_digest(raw)
        if ":" in ref and ref != digest:
            raise ManifestError(
                f"manifest bytes have digest {digest}, not {ref}", registry=host, repository=repo
            )
        response = await self._session.send(
            "PUT",
            f"/v2/{repo}/manifests/{ref}",
            repository=repo,
            scopes=(repository_scope(repo, "pull,push"),),
            content=raw,
            headers={"Content-Type": media_type},
        )
        if response.status_code not in (200, 201):
            raise status_error(response, registry=host, repository=repo, what=f"push manifest {ref}")
        reported = response.headers.get("Docker-Content-Digest")
        if reported and reported != digest:
            raise ManifestError(
                f"registry stored digest {reported}, expected {digest}", registry=host, repository=repo
            )
        if parsed.subject is not None and "OCI-Subject" not in response.headers:
            await self._add_to_referrers_tag(
                repo,
                parsed.subject.digest,
                Descriptor(
                    media_type=media_type,
                    digest=digest,
                    size=len(raw),
                    # OCI distribution v1.1: without artifactType, the config's media type is the type.
                    artifact_type=(
                        (parsed.artifact_type or parsed.config.media_type)
                        if isinstance(parsed, ImageManifest)
                        else None
                    ),
                    annotations=parsed.annotations,
                ),
            )
        return digest

    async def _add_to_referrers_tag(self, repo: str, subject: Digest, entry: Descriptor) -> None:
        tag = referrers_tag(subject)
        try:
            current = await self.get_manifest(repo, tag)
            existing = list(current.parsed.manifests) if isinstance(current.parsed, ImageIndex) else []
        except NotFoundInRegistry:
            existing = []
        if any(d.digest == entry.digest for d in existing):
            return
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [d.to_json() for d in [*existing, entry]],
        }
        await self.put_manifest(
            repo, tag, json.dumps(doc, separators=(",", ":")).encode(), media_type=OCI_INDEX
        )

    async def delete_manifest(self, repository: str, digest: str) -> None:
        """Delete a manifest by digest.

        Raises:
            NotFoundInRegistry: no such manifest.
            RegistryError: deletion refused (``405`` when the registry disables it) or failed.
        """
        repo = self._repo(repository)
        ref = self._reference(repository, digest)
        if ":" not in ref:
            raise ManifestError(
                "manifests are deleted by digest, not by tag", registry=self.endpoint.host, repository=repo
            )
        response = await self._session.send(
            "DELETE",
            f"/v2/{repo}/manifests/{ref}",
            repository=repo,
            scopes=(repository_scope(repo, "delete"),),
        )
        if response.status_code not in (200, 202):
            raise status_error(response, registry=self.endpoint.host, repository=repo, what=f"delete {ref}")

    async def referrers(self, repository: str, digest: str, *, artifact_type: str | None = None) -> Referrers:
        """Manifests whose ``subject`` is ``digest``: the referrers API, else the tag schema.

        Raises:
            ManifestError: the referrers index is malformed.
            RegistryError: any other failure.
        """
        repo = self._repo(repository)
        subject = Digest(self._reference(repository, digest))
        params = {"artifactType": artifact_type} if artifact_type else None
        response = await self._session.send(
            "GET",
            f"/v2/{repo}/referrers/{subject}",
            repository=repo,
            scopes=(repository_scope(repo),),
            params=params,
            headers={"Accept": OCI_INDEX},
        )
        if response.status_code == 200:
            try:
                parsed = parse_manifest(response.content, content_type=response.headers.get("Content-Type"))
            except ValueError as exc:
                raise ManifestError(
                    f"referrers index is not acceptable: {exc}", registry=self.endpoint.host, repository=repo
                ) from None
            descs = parsed.manifests if isinstance(parsed, ImageIndex) else ()
            filtered = "OCI-Filters-Applied" in response.headers
            via = "api"
        elif response.status_code == 404:
            try:
                fetched = await self.get_manifest(repo, referrers_tag(subject))
                descs = fetched.parsed.manifests if isinstance(fetched.parsed, ImageIndex) else ()
            except NotFoundInRegistry:
                descs = ()
            filtered, via = False, "tag-schema"
        else:
            raise status_error(response, registry=self.endpoint.host, repository=repo, what="referrers")
        if artifact_type and not filtered:
            descs = tuple(d for d in descs if d.artifact_type == artifact_type)
        return Referrers(descriptors=tuple(descs), via=via)
