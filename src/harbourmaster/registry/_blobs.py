"""Blob operations: existence, streamed digest-verified download, upload, cross-repository mount.

A blob is hashed while it streams.  :meth:`BlobOperations.download_blob`
writes to a temporary file beside the destination and renames it only after
the digest and size match, so a wrong or truncated blob is never left behind;
:meth:`BlobOperations.read_blob` returns bytes only after they are verified.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

import httpx

from harbourmaster.registry._session import status_error
from harbourmaster.registry.errors import BlobIntegrityError, ProtocolError, translate_transport_error
from harbourmaster.registry.media import Digest, parse_digest, validate_repository

if TYPE_CHECKING:
    from harbourmaster.registry._session import RegistrySession
    from harbourmaster.registry.client import RegistryEndpoint

__all__ = ["BlobOperations"]

_READ_CHUNK = 1024 * 1024


async def _batched(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Regroup the transport's small reads into chunks of about ``_READ_CHUNK`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for piece in source:
        parts.append(piece)
        size += len(piece)
        if size >= _READ_CHUNK:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as fh:
        while block := fh.read(_READ_CHUNK):
            yield block


class BlobOperations:
    """The blob half of :class:`~harbourmaster.registry.client.RegistryClient`."""

    _session: RegistrySession
    endpoint: RegistryEndpoint

    def _blob_args(self, repository: str, digest: str) -> tuple[str, Digest]:
        try:
            return validate_repository(repository), parse_digest(digest)
        except ValueError as exc:
            raise BlobIntegrityError(str(exc), registry=self.endpoint.host, repository=repository) from None

    async def blob_size(self, repository: str, digest: str) -> int | None:
        """The size of a blob if the repository has it, else ``None`` (``HEAD``).

        Raises:
            RegistryError: any failure other than 404.
        """
        repo, dig = self._blob_args(repository, digest)
        response = await self._session.send(
            "HEAD",
            f"/v2/{repo}/blobs/{dig}",
            repository=repo,
            scopes=(f"repository:{repo}:pull",),
            blob_download=True,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise status_error(response, registry=self.endpoint.host, repository=repo, what=f"blob {dig}")
        length = response.headers.get("Content-Length", "")
        return int(length) if length.isdigit() else None

    async def stream_blob(
        self, repository: str, digest: str, *, expected_size: int | None = None
    ) -> AsyncIterator[bytes]:
        """Yield a blob's bytes as they arrive, hashing them.

        The chunks are unverified until the iterator finishes: it raises at the
        end if the digest or size does not match.  Use :meth:`download_blob` or
        :meth:`read_blob` to get only verified content.

        Raises:
            BlobIntegrityError: wrong bytes, wrong size, or a truncated stream.
            RegistryError: not found, refused, or a transport failure.
        """
        async for chunk in self._verified_stream(repository, digest, expected_size=expected_size, work=None):
            yield chunk

    async def _verified_stream(
        self,
        repository: str,
        digest: str,
        *,
        expected_size: int | None,
        work: Callable[[bytes], object] | None,
    ) -> AsyncIterator[bytes]:
        # Each chunk is hashed (and handed to ``work``, e.g. a file write) in a worker thread,
        # one chunk behind the socket reads: hashlib and file writes release the GIL, so the
        # event loop keeps receiving while the previous chunk is hashed and written.
        repo, dig = self._blob_args(repository, digest)
        host = self.endpoint.host
        algorithm, _, expected_hex = dig.partition(":")
        hasher = hashlib.new(algorithm)

        def step(chunk: bytes) -> None:
            hasher.update(chunk)
            if work is not None:
                work(chunk)

        response = await self._session.send(
            "GET",
            f"/v2/{repo}/blobs/{dig}",
            repository=repo,
            scopes=(f"repository:{repo}:pull",),
            blob_download=True,
            stream=True,
        )
        received = 0
        pending: asyncio.Future[None] | None = None
        try:
            if response.status_code != 200:
                await response.aread()
                raise status_error(response, registry=host, repository=repo, what=f"blob {dig}")
            declared = response.headers.get("Content-Length", "")
            if expected_size is not None and declared.isdigit() and int(declared) != expected_size:
                raise BlobIntegrityError(
                    f"blob {dig} is announced as {declared} bytes, expected {expected_size}",
                    registry=host,
                    repository=repo,
                )
            try:
                async for chunk in _batched(response.aiter_raw()):
                    received += len(chunk)
                    if expected_size is not None and received > expected_size:
                        raise BlobIntegrityError(
                            f"blob {dig} is longer than its {expected_size} bytes",
                            registry=host,
                            repository=repo,
                        )
                    if pending is not None:
                        await pending
                    pending = asyncio.ensure_future(asyncio.to_thread(step, chunk))
                    yield chunk
            except httpx.RemoteProtocolError:
                raise BlobIntegrityError(
                    f"blob {dig} stream ended early after {received} bytes", registry=host, repository=repo
                ) from None
            except (httpx.TransportError, ssl.SSLError) as exc:
                raise translate_transport_error(exc, registry=host, repository=repo) from None
            if pending is not None:
                await pending
                pending = None
        finally:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
            await response.aclose()
        if expected_size is not None and received != expected_size:
            raise BlobIntegrityError(
                f"blob {dig} stream ended after {received} of {expected_size} bytes",
                registry=host,
                repository=repo,
            )
        if hasher.hexdigest() != expected_hex:
            raise BlobIntegrityError(
                f"blob {dig} does not match its digest (got {algorithm}:{hasher.hexdigest()})",
                registry=host,
                repository=repo,
            )

    async def read_blob(
        self,
        repository: str,
        digest: str,
        *,
        expected_size: int | None = None,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> bytes:
        """A small blob (a config) in memory, returned only after verification.

        Raises:
            BlobIntegrityError: wrong bytes, wrong size, truncated, or over ``max_bytes``.
            RegistryError: any other failure.
        """
        parts: list[bytes] = []
        total = 0
        async for chunk in self.stream_blob(repository, digest, expected_size=expected_size):
            total += len(chunk)
            if total > max_bytes:
                raise BlobIntegrityError(
                    f"blob {digest} exceeds {max_bytes} bytes",
                    registry=self.endpoint.host,
                    repository=repository,
                )
            parts.append(chunk)
        return b"".join(parts)

    async def download_blob(
        self, repository: str, digest: str, dest: Path, *, expected_size: int | None = None
    ) -> int:
        """Stream a blob to ``dest`` (temp file + rename after verification); returns its size.

        Raises:
            BlobIntegrityError: wrong bytes, wrong size, or truncated (nothing is left at ``dest``).
            RegistryError: any other failure.
        """
        dest = Path(dest)
        tmp = dest.with_name(f".{dest.name}.partial-{os.getpid()}-{id(dest)}")
        size = 0
        try:
            with open(tmp, "wb") as fh:
                async for chunk in self._verified_stream(
                    repository, digest, expected_size=expected_size, work=fh.write
                ):
                    size += len(chunk)
            os.replace(tmp, dest)
        finally:
            if tmp.exists():
                tmp.unlink()
        return size

    # -- upload -------------------------------------------------------------------------------

    def _location(self, response: httpx.Response, repo: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise ProtocolError(
                "upload response has no Location header", registry=self.endpoint.host, repository=repo
            )
        url = str(urljoin(self._session.base_url + "/", location))
        if urlsplit(url).netloc.lower() != urlsplit(self._session.base_url).netloc.lower():
            raise ProtocolError(
                f"upload Location points at another host ({urlsplit(url).netloc})",
                registry=self.endpoint.host,
                repository=repo,
            )
        return url

    async def _start_upload(self, repo: str, params: dict[str, str] | None = None) -> httpx.Response:
        scopes = [f"repository:{repo}:pull,push"]
        if params and "from" in params:
            scopes.append(f"repository:{params['from']}:pull")
        return await self._session.send(
            "POST", f"/v2/{repo}/blobs/uploads/", repository=repo, scopes=scopes, params=params, content=b""
        )

    async def mount_blob(self, repository: str, digest: str, *, from_repository: str) -> bool:
        """Mount a blob from another repository of the same registry; ``False`` if the registry
        declined (it then opened an upload, which this cancels).

        Raises:
            RegistryError: the request failed.
        """
        repo, dig = self._blob_args(repository, digest)
        source = self._blob_args(from_repository, digest)[0]
        response = await self._start_upload(repo, {"mount": dig, "from": source})
        if response.status_code == 201:
            return True
        if response.status_code == 202:
            await self._session.send(
                "DELETE",
                self._location(response, repo),
                repository=repo,
                scopes=(f"repository:{repo}:pull,push",),
            )
            return False
        raise status_error(response, registry=self.endpoint.host, repository=repo, what=f"mount {dig}")

    async def upload_blob(
        self, repository: str, data: bytes | Path, *, digest: str | None = None, chunk_size: int | None = None
    ) -> Digest:
        """Upload a blob, monolithically (one PUT) or chunked (PATCH per ``chunk_size``).

        ``data`` is bytes or a file path (streamed in chunks).  Skips the upload when
        the repository already has the blob.

        Raises:
            BlobIntegrityError: ``digest`` given and the data does not match it.
            RegistryError: the registry refused the upload.
        """
        repo = self._blob_args(repository, digest or "sha256:" + "0" * 64)[0]
        host = self.endpoint.host
        if digest is None:
            hasher = hashlib.sha256()
            if isinstance(data, bytes):
                hasher.update(data)
            else:
                with open(data, "rb") as fh:
                    while block := fh.read(_READ_CHUNK):
                        hasher.update(block)
            digest = f"sha256:{hasher.hexdigest()}"
        dig = self._blob_args(repo, digest)[1]
        if await self.blob_size(repo, dig) is not None:
            return dig
        size = len(data) if isinstance(data, bytes) else Path(data).stat().st_size
        response = await self._start_upload(repo)
        if response.status_code != 202:
            raise status_error(response, registry=host, repository=repo, what="start blob upload")
        location = self._location(response, repo)
        push = (f"repository:{repo}:pull,push",)

        def read_range(start: int, length: int) -> bytes:
            if isinstance(data, bytes):
                return data[start : start + length]
            with open(data, "rb") as fh:
                fh.seek(start)
                return fh.read(length)

        final: bytes | AsyncIterator[bytes] = b""
        final_length = 0
        if chunk_size:
            offset = 0
            while offset < size:
                piece = read_range(offset, chunk_size)
                response = await self._session.send(
                    "PATCH",
                    location,
                    repository=repo,
                    scopes=push,
                    content=piece,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                        "Content-Length": str(len(piece)),
                    },
                )
                if response.status_code != 202:
                    raise status_error(response, registry=host, repository=repo, what="upload blob chunk")
                location = self._location(response, repo)
                offset += len(piece)
        elif isinstance(data, bytes):
            final, final_length = data, size
        else:
            final, final_length = _file_chunks(Path(data)), size
        return await self._finish_upload(repo, dig, location, final, final_length)

    async def _put_upload(self, repo: str, dig: Digest, content: AsyncIterator[bytes], length: int) -> Digest:
        """Open an upload and send ``content`` (``length`` bytes) in its one closing PUT."""
        response = await self._start_upload(repo)
        if response.status_code != 202:
            raise status_error(
                response, registry=self.endpoint.host, repository=repo, what="start blob upload"
            )
        return await self._finish_upload(repo, dig, self._location(response, repo), content, length)

    async def _finish_upload(
        self, repo: str, dig: Digest, location: str, final: bytes | AsyncIterator[bytes], final_length: int
    ) -> Digest:
        host = self.endpoint.host
        push = (f"repository:{repo}:pull,push",)
        sep = "&" if "?" in location else "?"
        response = await self._session.send(
            "PUT",
            f"{location}{sep}digest={dig}",
            repository=repo,
            scopes=push,
            content=final,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(final_length)},
        )
        if response.status_code == 400 and b"DIGEST_INVALID" in response.content:
            raise BlobIntegrityError(f"the uploaded bytes do not match {dig}", registry=host, repository=repo)
        if response.status_code != 201:
            raise status_error(response, registry=host, repository=repo, what=f"finish upload of {dig}")
        return dig

    async def upload_blob_stream(
        self, repository: str, chunks: AsyncIterator[bytes], *, digest: str, size: int
    ) -> Digest:
        """Upload a blob of known ``digest`` and ``size`` from ``chunks`` in one streamed PUT (another
        registry's :meth:`stream_blob`, say), holding no more than a chunk; skips it when present.

        The registry checks the digest of what it received; a source stream that fails its own
        verification raises out of the PUT, so the upload is never completed with wrong bytes.

        Raises:
            BlobIntegrityError: the registry reports that the bytes do not match ``digest``.
            RegistryError: the registry refused the upload.
        """
        repo, dig = self._blob_args(repository, digest)
        if await self.blob_size(repo, dig) is not None:
            # The source stream was never started: close it so its connection is released.
            await _close(chunks)
            return dig
        try:
            return await self._put_upload(repo, dig, chunks, size)
        finally:
            await _close(chunks)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
