"""An async client for the OCI distribution spec v1.1 (client side).

Use it as an async context manager::

    async with RegistryClient(RegistryEndpoint("registry.example.com"), provider=provider) as client:
        digest = await client.resolve("team/app", "v1")

Manifests (this module) and blobs (:mod:`harbourmaster.registry._blobs`) share
one :class:`~harbourmaster.registry._session.RegistrySession`.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import httpx

from harbourmaster.registry._blobs import BlobOperations
from harbourmaster.registry._session import ClientOptions, RegistrySession, status_error
from harbourmaster.registry.auth import Anonymous, RegistryAuth
from harbourmaster.registry.errors import (
    InsecureTransportRefused,
    ManifestError,
    NotFoundInRegistry,
    ProtocolError,
    RegistryError,
    translate_transport_error,
)
from harbourmaster.registry.interface import CredentialProvider
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
from harbourmaster.registry.tls import TransportSecurity, check_transport, ssl_context

__all__ = ["FetchedManifest", "ManifestHead", "Ping", "Referrers", "RegistryClient", "RegistryEndpoint"]

_MAX_PAGES = 10_000


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where a registry is (``host`` or ``host:port``) and how to reach it securely."""

    host: str
    security: TransportSecurity = field(default_factory=TransportSecurity)

    @property
    def base_url(self) -> str:
        return f"{self.security.scheme}://{self.host}"


@dataclass(frozen=True)
class Ping:
    """The answer to ``GET /v2/`` once authenticated."""

    api_version: str | None
    status_code: int


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


def _scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


class RegistryClient(BlobOperations):
    """Speaks the distribution protocol to one registry."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        provider: CredentialProvider | None = None,
        options: ClientOptions | None = None,
        development_only: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Raises:
        InsecureTransportRefused: plain HTTP / skipped verification without ``development_only``.
        RegistryError: the CA bundle or client certificate cannot be loaded.
        """
        check_transport(endpoint.security, registry=endpoint.host, development_only=development_only)
        self.endpoint = endpoint
        self.provider = provider or Anonymous()
        opts = options or ClientOptions()
        if self.provider.blob_redirect_hosts:
            opts = ClientOptions(
                **{
                    **opts.__dict__,
                    "blob_redirect_hosts": opts.blob_redirect_hosts | self.provider.blob_redirect_hosts,
                }
            )
        self.options = opts
        try:
            verify: ssl.SSLContext | bool = ssl_context(endpoint.security)
        except ssl.SSLError as exc:
            raise InsecureTransportRefused(
                f"cannot load the CA bundle or client certificate ({exc.reason})", registry=endpoint.host
            ) from None
        timeout = httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout)
        limits = httpx.Limits(
            max_connections=max(10, opts.concurrency * 2),
            max_keepalive_connections=max(10, opts.concurrency * 2),
        )
        self._http = httpx.AsyncClient(
            verify=verify,
            timeout=timeout,
            limits=limits,
            transport=transport,
            trust_env=False,
            headers={"User-Agent": "harbourmaster"},
        )
        auth = RegistryAuth(self.provider, registry=endpoint.host, registry_scheme=endpoint.security.scheme)
        self._session = RegistrySession(
            http=self._http, base_url=endpoint.base_url, registry=endpoint.host, auth=auth, options=opts
        )

    def __repr__(self) -> str:
        return f"RegistryClient({self.endpoint.base_url!r}, provider={self.provider.name!r})"

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

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

    # -- base and listing ---------------------------------------------------------------------

    async def ping(self) -> Ping:
        """``GET /v2/``, authenticating if asked.

        Raises:
            RegistryError: unreachable, refused credentials, or not a distribution registry.
        """
        response = await self._session.send("GET", "/v2/", repository=None)
        if response.status_code != 200:
            raise status_error(response, registry=self.endpoint.host, repository=None, what="ping /v2/")
        return Ping(
            api_version=response.headers.get("Docker-Distribution-API-Version"),
            status_code=response.status_code,
        )

    async def _paginate(
        self,
        path: str,
        key: str,
        *,
        repository: str | None,
        page_size: int | None,
        scopes: tuple[str, ...],
        limit: int | None,
    ) -> list[str]:
        out: list[str] = []
        params: dict[str, str] | None = {"n": str(page_size)} if page_size else None
        url = path
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            response = await self._session.send(
                "GET", url, repository=repository, scopes=scopes, params=params
            )
            if response.status_code != 200:
                raise status_error(
                    response, registry=self.endpoint.host, repository=repository, what=f"list {key}"
                )
            try:
                doc = json.loads(response.content)
                items = doc.get(key) or []
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise TypeError
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
                raise ProtocolError(
                    f"the {key} list is not JSON of the expected shape",
                    registry=self.endpoint.host,
                    repository=repository,
                ) from None
            out.extend(items)
            if limit is not None and len(out) >= limit:
                return out[:limit]
            link = response.headers.get("link")
            if not link or 'rel="next"' not in link.replace("'", '"'):
                return out
            target = link.split(";")[0].strip().strip("<>")
            parts = urlsplit(target)
            if parts.netloc and parts.netloc.lower() != urlsplit(self.endpoint.base_url).netloc.lower():
                raise ProtocolError(
                    f"pagination Link points at another host ({parts.netloc})",
                    registry=self.endpoint.host,
                    repository=repository,
                )
            marker = parse_qs(parts.query).get("last", [""])[0]
            if target in seen or (marker and items and marker not in items):
                raise ProtocolError(
                    "pagination does not advance (repeated or inconsistent Link)",
                    registry=self.endpoint.host,
                    repository=repository,
                )
            seen.add(target)
            url, params = (parts.path + ("?" + parts.query if parts.query else "")), None
        raise ProtocolError(
            f"more than {_MAX_PAGES} pages", registry=self.endpoint.host, repository=repository
        )

    async def catalog(self, *, page_size: int | None = 100, limit: int | None = None) -> list[str]:
        """Every repository the registry lists (``/v2/_catalog``), following pagination.

        Raises:
            NotFoundInRegistry: the registry has no catalog endpoint (GHCR, for one).
            RegistryError: any other failure.
        """
        return await self._paginate(
            "/v2/_catalog",
            "repositories",
            repository=None,
            page_size=page_size,
            scopes=("registry:catalog:*",),
            limit=limit,
        )

    async def tags(
        self, repository: str, *, page_size: int | None = None, limit: int | None = None
    ) -> list[str]:
        """The repository's tags, following ``n``/``last`` pagination and the ``Link`` header.

        Raises:
            NotFoundInRegistry: no such repository.
            RegistryError: any other failure.
        """
        repo = self._repo(repository)
        return await self._paginate(
            f"/v2/{repo}/tags/list",
            "tags",
            repository=repo,
            page_size=page_size,
            scopes=(_scope(repo),),
            limit=limit,
        )

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
            scopes=(_scope(repo),),
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
            scopes=(_scope(repo),),
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
        except httpx.TransportError as exc:
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
        if algorithm not in ("sha256", "sha512"):
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
            scopes=(_scope(repo, "pull,push"),),
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
                    artifact_type=(parsed.artifact_type if isinstance(parsed, ImageManifest) else None),
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
            "DELETE", f"/v2/{repo}/manifests/{ref}", repository=repo, scopes=(_scope(repo, "delete"),)
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
            scopes=(_scope(repo),),
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
