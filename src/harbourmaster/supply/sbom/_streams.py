"""Byte plumbing for one layer: hash and count the blob, decompress ahead in a thread, skip forward.

``gzip -dc | tar -t`` overlaps decompression and tar parsing in two processes;
here a thread decompresses (zlib, zstd and hashlib release the GIL) while the
caller parses.  At most ``PREFETCH_DEPTH`` chunks wait: memory stays bounded.
The tar side reads a :class:`TarStream`, a forward-only file whose ``seek``
skips without copying, so members nobody wants cost no Python-level copies.
"""

from __future__ import annotations

import hashlib
import io
import queue
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import zstandard

from harbourmaster.supply.sbom.interface import LayerError, ScanLimits

__all__ = ["BlobSource", "Prefetch", "TarStream", "gunzip", "read_chunks", "unzstd"]

CHUNK = 256 * 1024
PREFETCH_CHUNK = 1024 * 1024
PREFETCH_DEPTH = 4


class BlobSource(io.RawIOBase):
    """The compressed bytes: counted for progress, hashed to check the layer digest."""

    def __init__(self, raw: BinaryIO, *, expected_digest: str,
                 on_progress: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_progress = on_progress
        self.read_bytes = 0
        algo, _, hexpart = expected_digest.partition(":")
        self._expected = hexpart if algo == "sha256" and hexpart else ""
        self._hash = hashlib.sha256() if self._expected else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n:
            self.read_bytes += n
            if self._hash is not None:
                self._hash.update(data)
            if self._on_progress is not None:
                self._on_progress(n)
        return n

    def digest_matches(self) -> bool:
        return self._hash is None or self._hash.hexdigest() == self._expected


def gunzip(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """Decompress a (possibly multi-member) gzip stream with zlib, bounded per step.

    zlib checks each member's CRC-32 and length; a stream that ends inside a
    member raises ``EOFError``; zero padding after the last member is allowed.
    """
    inflater = zlib.decompressobj(wbits=31)
    pending = b""
    while True:
        if not pending:
            pending = read(CHUNK)
            if not pending:
                if not inflater.eof:
                    raise EOFError("compressed stream ended before the end-of-stream marker")
                return
        if inflater.eof:
            if not pending.strip(b"\0"):
                pending = b""
                continue
            inflater = zlib.decompressobj(wbits=31)  # the next gzip member
        out = inflater.decompress(pending, PREFETCH_CHUNK)
        pending = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        if out:
            yield out


def read_chunks(stream: BinaryIO) -> Iterator[bytes]:
    return iter(lambda: stream.read(PREFETCH_CHUNK), b"")


def unzstd(stream: BinaryIO) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().stream_reader(stream, read_size=CHUNK, read_across_frames=True)
    return iter(lambda: reader.read(PREFETCH_CHUNK), b"")


class Prefetch:
    """Runs a chunk iterator in a thread; :meth:`next_chunk` hands chunks (or its exception) over."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=PREFETCH_DEPTH)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="layer-prefetch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for data in self._chunks:
                if self._stop.is_set():
                    return
                if data:
                    self._put(data)
            self._put(b"")
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._put(exc)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def next_chunk(self) -> bytes:
        """The next chunk, ``b""`` at the end; re-raises what the thread raised."""
        if self._done:
            return b""
        item = self._queue.get()
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if not item:
            self._done = True
        return item

    def close(self) -> None:
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(timeout=5)


class TarStream(io.RawIOBase):
    """The decompressed tar, forward only: ``seek`` ahead skips, ``seek`` back is refused.

    Counts decompressed bytes and raises :class:`LayerError` past the bomb
    limits, or when the compressed stream is truncated or corrupt.
    """

    def __init__(self, prefetch: Prefetch, source: BlobSource, *, limits: ScanLimits, layer: str) -> None:
        self._prefetch = prefetch
        self._source = source
        self._limits = limits
        self._layer = layer
        self._chunk = memoryview(b"")
        self._max_read = max(limits.max_file_bytes, limits.max_binary_bytes)
        self.position = 0
        self.produced = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def _fill(self) -> bool:
        try:
            data = self._prefetch.next_chunk()
        except EOFError as exc:
            raise LayerError(f"layer {self._layer}: truncated compressed stream ({exc})") from exc
        except (OSError, zlib.error, zstandard.ZstdError) as exc:
            raise LayerError(f"layer {self._layer}: corrupt compressed stream ({exc})") from exc
        if not data:
            return False
        self._chunk = memoryview(data)
        self.produced += len(data)
        self._check_bomb()
        return True

    def _check_bomb(self) -> None:
        limits = self._limits
        if self.produced > limits.max_layer_bytes:
            raise LayerError(
                f"layer {self._layer}: decompressed size exceeds the limit of {limits.max_layer_bytes} "
                "bytes; stopped reading (possible decompression bomb)")
        if self.produced > limits.ratio_floor_bytes and self._source.read_bytes:
            ratio = self.produced / self._source.read_bytes
            if ratio > limits.max_ratio:
                raise LayerError(
                    f"layer {self._layer}: compression ratio {ratio:.0f}:1 exceeds the limit of "
                    f"{limits.max_ratio:.0f}:1; stopped reading (possible decompression bomb)")

    def read(self, size: int | None = -1) -> bytes:
        if size is not None and size > self._max_read:
            # tarfile reads pax and GNU long-name headers whole: a header claiming gigabytes
            # must not become a gigabyte allocation.
            raise LayerError(f"layer {self._layer}: a tar header or member asks to read {size} bytes at "
                             f"offset {self.position}, more than the {self._max_read}-byte limit")
        if size is None or size < 0:
            parts = []
            while self._chunk or self._fill():
                parts.append(bytes(self._chunk))
                self.position += len(self._chunk)
                self._chunk = memoryview(b"")
            return b"".join(parts)
        if len(self._chunk) >= size:  # the common case: a header or a small file
            out = bytes(self._chunk[:size])
            self._chunk = self._chunk[size:]
            self.position += size
            return out
        pieces = []
        wanted = size
        while wanted and (self._chunk or self._fill()):
            take = self._chunk[:wanted]
            pieces.append(bytes(take))
            self._chunk = self._chunk[len(take):]
            wanted -= len(take)
        self.position += size - wanted
        return b"".join(pieces)

    def drain(self) -> None:
        """Skip to the end (padding after the archive), still counting and checking limits."""
        while self._chunk or self._fill():
            self.position += len(self._chunk)
            self._chunk = memoryview(b"")

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.position + offset if whence == io.SEEK_CUR else -1
        if target < self.position:
            raise io.UnsupportedOperation("a layer stream only moves forward")
        skip = target - self.position
        while skip and (self._chunk or self._fill()):
            step = min(skip, len(self._chunk))
            self._chunk = self._chunk[step:]
            skip -= step
            self.position += step
        return self.position
