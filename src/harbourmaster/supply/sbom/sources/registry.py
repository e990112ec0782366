"""An image in a registry as an :class:`ImageSource`: layers streamed from the registry.

The registry client is asynchronous; the scan pipeline is synchronous.  A
:class:`RegistrySource` owns one event loop in one background thread, with one
:class:`~harbourmaster.registry.RegistryClient` living in it.  Each layer is a
producer task in that loop that feeds a bounded queue (``read_ahead`` chunks of
about 1 MiB), and :meth:`RegistrySource.open_layer` returns a blocking reader
that takes chunks from it.  So at most ``read_ahead`` chunks of a layer are in
memory, however big the layer; the network keeps receiving while the scan
decompresses and parses.

The registry client verifies every blob's digest and size while it streams and
raises at the end of the stream when they do not match; the reader raises that
as a :class:`LayerError` on its last read.  The layers are therefore not hashed
a second time by the walker (``stream_digest=False``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, BinaryIO, TypeVar

from harbourmaster.domain.platform import DEFAULT_PLATFORM, Platform
from harbourmaster.registry import (
    BlobIntegrityError,
    ClientOptions,
    CredentialProvider,
    Descriptor,
    HttpxClientFactory,
    ImageIndex,
    ImageManifest,
    RegistryClient,
    RegistryClientFactory,
    RegistryEndpoint,
)
from harbourmaster.registry.media import INDEX_MEDIA_TYPES
from harbourmaster.supply.sbom.interface import ImageInfo, LayerError, SourceError
from harbourmaster.supply.sbom.sources._json import platform_of
from harbourmaster.supply.sbom.sources.interface import ImageSource, LayerDescriptor

__all__ = ["RegistryImage", "RegistrySource", "resolve_platform_manifest"]

T = TypeVar("T")

MAX_CONFIG_BYTES = 4 * 1024 * 1024
DEFAULT_READ_AHEAD = 4
_END = b""


@dataclass(frozen=True, kw_only=True)
class RegistryImage:
    """The image manifest chosen for a platform, and the index it came from (if any)."""

    repository: str
    manifest: Descriptor  # media type, digest and size of the platform's image manifest
    parsed: ImageManifest
    index_digest: str | None = None


def _platform_matches(want: Platform, have: Platform | None) -> bool:
    return have is not None and want.matches(have)


async def resolve_platform_manifest(client: RegistryClient, repository: str, reference: str, *,
                                    platform: Platform) -> RegistryImage:
    """Fetch ``repository:reference``; in a multi-platform index, follow the entry for ``platform``.

    Raises:
        SourceError: the index has no image for ``platform``, indexes are nested too deeply,
            or the manifest is not an image manifest.
        RegistryError: the registry failed (not found, refused, malformed manifest...).
    """
    fetched = await client.get_manifest(repository, reference)
    index_digest: str | None = None
    for _ in range(3):
        parsed = fetched.parsed
        if isinstance(parsed, ImageManifest):
            desc = Descriptor(media_type=fetched.media_type, digest=fetched.digest, size=len(fetched.raw))
            return RegistryImage(repository=repository, manifest=desc, parsed=parsed,
                                 index_digest=index_digest)
        assert isinstance(parsed, ImageIndex)
        index_digest = index_digest or fetched.digest
        chosen = next((m for m in parsed.manifests if _platform_matches(platform, m.platform)), None)
        if chosen is None:
            offered = ", ".join(str(m.platform) for m in parsed.manifests if m.platform) or "none"
            raise SourceError(f"{repository}@{fetched.digest} has no image for platform {platform} "
                              f"(it offers: {offered}); choose one with --platform")
        fetched = await client.get_manifest(repository, chosen.digest)
    raise SourceError(f"{repository}:{reference}: image indexes nested too deeply")


class _LoopThread:
    """One event loop running in a daemon thread; coroutines are handed to it from other threads."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="registry-source", daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.submit(coro).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def shutdown() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()
            await self.loop.shutdown_default_executor()

        try:
            self.call(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self.loop.close()


class _LayerStream(io.RawIOBase):
    """A blocking reader over one blob streamed by a producer task in the loop."""

    def __init__(self, runner: _LoopThread, client: RegistryClient, repository: str,
                 layer: LayerDescriptor, *, read_ahead: int) -> None:
        self._runner = runner
        self._layer = layer
        self._queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue(maxsize=read_ahead)
        self._chunk = memoryview(b"")
        self._done = False
        self._task = runner.submit(self._produce(client, repository))

    async def _produce(self, client: RegistryClient, repository: str) -> None:
        try:
            size = self._layer.size if self._layer.size >= 0 else None
            async for chunk in client.stream_blob(repository, self._layer.digest, expected_size=size):
                await self._queue.put(chunk)
            await self._queue.put(_END)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the reading thread, which raises it
            await self._queue.put(exc)

    def readable(self) -> bool:
        return True

    def _next(self) -> bool:
        if self._done:
            return False
        item = self._runner.call(self._queue.get())
        if isinstance(item, BaseException):
            self._done = True
            if isinstance(item, BlobIntegrityError):
                raise LayerError(f"layer {self._layer.digest}: {item.message}") from item
            raise item
        if not item:
            self._done = True
            return False
        self._chunk = memoryview(item)
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._chunk:
            if not self._next():
                return 0
        n = min(len(buffer), len(self._chunk))
        buffer[:n] = self._chunk[:n]
        self._chunk = self._chunk[n:]
        return n

    def close(self) -> None:
        if not self.closed and not self._task.done():
            self._task.cancel()  # stops the producer; the response is closed in the loop
        self._chunk = memoryview(b"")
        super().close()


class RegistrySource(ImageSource):
    """An image in a registry, its layers streamed (never a whole blob in memory).

    ``reference`` is a tag or a digest; an index is resolved to the image for
    ``platform`` (default ``linux/amd64``).  ``name`` is what the SBOM calls the
    image (the reference as the user wrote it, normalised).  The client comes from ``clients``
    (default: over the network).  Close the source (or use it as a context manager) to stop its
    thread and connections.

    Raises (from the constructor):
        SourceError: no image for the platform, or a malformed image config.
        RegistryError: the registry failed (unreachable, refused, no such tag...).
    """

    def __init__(self, *, endpoint: RegistryEndpoint, provider: CredentialProvider, repository: str,
                 reference: str, name: str, platform: Platform | None = None,
                 development_only: bool = False, options: ClientOptions | None = None,
                 read_ahead: int = DEFAULT_READ_AHEAD, clients: RegistryClientFactory | None = None) -> None:
        self._want = platform or DEFAULT_PLATFORM
        self._read_ahead = max(1, read_ahead)
        self._name = name
        self._runner = _LoopThread()
        self._streams: list[_LayerStream] = []
        try:
            self._client = self._runner.call(
                self._open(clients or HttpxClientFactory(), endpoint, provider, development_only, options))
            self.resolved = self._runner.call(
                resolve_platform_manifest(self._client, repository, reference, platform=self._want))
            config_desc = self.resolved.parsed.config
            raw_config = self._runner.call(self._client.read_blob(
                repository, config_desc.digest, expected_size=config_desc.size, max_bytes=MAX_CONFIG_BYTES))
        except BaseException:
            self.close()
            raise
        try:
            config = json.loads(raw_config)
            if not isinstance(config, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError) as exc:
            self.close()
            raise SourceError(f"{name}: image config {config_desc.digest} is not a JSON object "
                              f"({exc})") from exc
        try:
            self._platform = platform_of(config)
        except SourceError:  # a platform no platform may have: stop the thread before saying so
            self.close()
            raise
        self._layers = tuple(LayerDescriptor(digest=d.digest, size=d.size, media_type=d.media_type,
                                             stream_digest=False) for d in self.resolved.parsed.layers)

    @staticmethod
    async def _open(clients: RegistryClientFactory, endpoint: RegistryEndpoint, provider: CredentialProvider,
                    development_only: bool, options: ClientOptions | None) -> RegistryClient:
        # Made inside the source's loop: the client's connection pool belongs to that loop.
        return clients.client(endpoint, provider=provider, options=options, development_only=development_only)

    def __repr__(self) -> str:
        return f"RegistrySource({self._name!r})"

    @property
    def repository(self) -> str:
        return self.resolved.repository

    def image(self) -> ImageInfo:
        return ImageInfo(name=self._name, digest=self.resolved.manifest.digest, platform=self._platform,
                         layer_digests=tuple(x.digest for x in self._layers))

    def layers(self) -> tuple[LayerDescriptor, ...]:
        return self._layers

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        if layer.media_type in INDEX_MEDIA_TYPES:
            raise SourceError(f"layer {layer.digest} is an index, not a layer")
        self._streams = [s for s in self._streams if not s.closed]
        stream = _LayerStream(self._runner, self._client, self.repository, layer, read_ahead=self._read_ahead)
        self._streams.append(stream)
        return stream  # type: ignore[return-value]

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self._streams = []
        client = getattr(self, "_client", None)
        try:
            if client is not None and not self._runner.loop.is_closed():
                self._runner.call(client.aclose())
        finally:
            self._runner.close()
