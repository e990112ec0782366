"""Streaming one image layer: decompression by magic bytes, bomb limits, tar members, whiteouts.

A layer is read exactly once, front to back.  Nothing is written to disk and no
more than one tar block plus the member a cataloger asked for is held at a time.
"""

from __future__ import annotations

import enum
import io
import posixpath
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from harbourmaster.supply.sbom._streams import (
    CHUNK,
    BlobSource,
    Prefetch,
    TarStream,
    gunzip,
    read_chunks,
    unzstd,
)
from harbourmaster.supply.sbom.interface import FileEntry, LayerError, ScanLimits

__all__ = [
    "Compression",
    "LayerMember",
    "LayerReader",
    "MemberKind",
    "detect_compression",
    "normalise_member_path",
]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


class Compression(enum.StrEnum):
    GZIP = "gzip"
    ZSTD = "zstd"
    NONE = "none"


class MemberKind(enum.Enum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    WHITEOUT = "whiteout"
    OPAQUE = "opaque"
    OTHER = "other"


def detect_compression(head: bytes) -> Compression:
    """The compression of a layer from its first bytes (media types lie; magic bytes do not)."""
    if head.startswith(GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


def normalise_member_path(name: str) -> str | None:
    """``./usr/bin/x`` → ``/usr/bin/x``.  ``None`` for names that escape the root or are absolute.

    Layers are relative archives (OCI image-layer spec); an absolute name or a
    ``..`` component is a path-traversal attempt and is never cataloged.
    """
    if name.startswith("/"):
        return None
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            return None
        parts.append(part)
    return "/" + "/".join(parts)


@dataclass(frozen=True, kw_only=True)
class LayerMember:
    """A member of the layer: its kind, its entry, and for whiteouts the path they delete."""

    kind: MemberKind
    entry: FileEntry
    #: For WHITEOUT: the deleted path; for OPAQUE: the directory made opaque; for HARDLINK: the target.
    target: str = ""


class _MemberStream(io.RawIOBase):
    """A member's bytes; a short read inside the member is the layer's truncation, not the file's."""

    def __init__(self, inner: IO[bytes], *, layer: str, path: str) -> None:
        self._inner = inner
        self._layer = layer
        self._path = path

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._inner.read(-1 if size is None else size)
        except tarfile.ReadError as exc:
            raise LayerError(
                f"layer {self._layer}: truncated tar stream inside {self._path} ({exc})") from exc

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class LayerReader:
    """Iterates the members of one layer stream; use :meth:`open_member` on the current FILE member.

    Raises :class:`LayerError` (from iteration) when the layer is not a tar, is
    truncated, exceeds the bomb limits or does not match its digest.  Members
    whose names escape the root are skipped and listed in :attr:`warnings`.
    """

    def __init__(self, raw: BinaryIO, *, layer_digest: str, limits: ScanLimits, verify_digest: bool = True,
                 on_progress: Callable[[int], None] | None = None) -> None:
        self.layer_digest = layer_digest
        self.warnings: list[tuple[str, str]] = []
        self._source = BlobSource(raw, expected_digest=layer_digest if verify_digest else "",
                                  on_progress=on_progress)
        buffered = io.BufferedReader(self._source, buffer_size=CHUNK)
        self.compression = detect_compression(buffered.peek(4)[:4])
        chunks: Iterator[bytes]
        if self.compression is Compression.GZIP:
            chunks = gunzip(buffered.read)
        elif self.compression is Compression.ZSTD:
            chunks = unzstd(buffered)
        else:
            chunks = read_chunks(buffered)
        self._prefetch = Prefetch(chunks)
        self._decompressed = TarStream(self._prefetch, self._source, limits=limits, layer=layer_digest)
        self._tar: tarfile.TarFile | None = None
        self._current: tarfile.TarInfo | None = None

    def close(self) -> None:
        """Stop the read-ahead thread (idempotent)."""
        self._prefetch.close()

    def __iter__(self) -> Iterator[LayerMember]:
        try:
            yield from self._members()
        finally:
            self.close()

    def _members(self) -> Iterator[LayerMember]:
        try:
            # "r:" with a forward-only file: tarfile seeks ahead over member data, which
            # TarStream turns into skipping without copies.
            self._tar = tarfile.open(  # noqa: SIM115 - the reader owns it for the whole pass
                fileobj=self._decompressed, mode="r:")
        except tarfile.ReadError as exc:
            raise LayerError(f"layer {self.layer_digest} is not a tar archive "
                             f"({self.compression} stream: {exc})") from exc
        tar = self._tar
        while True:
            try:
                info = tar.next()
            except tarfile.TarError as exc:
                what = "truncated" if "unexpected end" in str(exc) else "corrupt"
                raise LayerError(f"layer {self.layer_digest}: {what} tar stream ({exc})") from exc
            # tarfile keeps every member it has seen; drop them so memory stays per-member.
            tar.members = []  # type: ignore[attr-defined]
            if info is None:
                break
            member = self._member(info)
            if member is not None:
                self._current = info
                yield member
        self._finish(tar)

    def open_member(self) -> BinaryIO:
        """A stream of the current FILE member's bytes (valid until the next iteration step).

        Reading it raises :class:`LayerError` when the layer ends inside the member.
        """
        assert self._tar is not None and self._current is not None
        stream = self._tar.extractfile(self._current)
        assert stream is not None
        member = _MemberStream(stream, layer=self.layer_digest, path=self._current.name)
        return member  # type: ignore[return-value]

    def _member(self, info: tarfile.TarInfo) -> LayerMember | None:
        path = normalise_member_path(info.name)
        if path is None:
            self.warnings.append((info.name, "member name escapes the layer root (absolute or '..'); "
                                             "skipped"))
            return None
        entry = FileEntry(path=path, size=info.size, mode=info.mode, is_symlink=info.issym(),
                          link_target=info.linkname if (info.issym() or info.islnk()) else "")
        base = posixpath.basename(path)
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            return LayerMember(kind=MemberKind.OPAQUE, entry=entry, target=parent)
        if base.startswith(WHITEOUT_PREFIX):
            if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
                return None  # aufs bookkeeping (.wh..wh.plnk and friends), not a deletion
            return LayerMember(kind=MemberKind.WHITEOUT, entry=entry,
                               target=posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
        if info.isreg():
            return LayerMember(kind=MemberKind.FILE, entry=entry)
        if info.isdir():
            return LayerMember(kind=MemberKind.DIRECTORY, entry=entry)
        if info.issym():
            return LayerMember(kind=MemberKind.SYMLINK, entry=entry)
        if info.islnk():
            target = normalise_member_path(info.linkname)
            if target is None:
                self.warnings.append((path, f"hard link target {info.linkname!r} escapes the layer root; "
                                            "skipped"))
                return None
            return LayerMember(kind=MemberKind.HARDLINK, entry=entry, target=target)
        return LayerMember(kind=MemberKind.OTHER, entry=entry)

    def _finish(self, tar: tarfile.TarFile) -> None:
        # A stream that ends exactly where a header should start reads as a clean end to
        # tarfile: compare how far the members reach with what was actually decompressed.
        if self._decompressed.produced < tar.offset:
            raise LayerError(f"layer {self.layer_digest}: truncated tar stream (archive ends at byte "
                             f"{self._decompressed.produced}, members reach byte {tar.offset})")
        if self._decompressed.produced < tar.offset + tarfile.BLOCKSIZE:
            self.warnings.append(("", "tar stream has no end-of-archive marker (possibly truncated)"))
        self._decompressed.drain()  # padding: the compressed stream is still checked to its end
        while self._source.read(CHUNK):
            pass
        if not self._source.digest_matches():
            raise LayerError(f"layer {self.layer_digest}: content does not match its digest")

    @property
    def compressed_bytes(self) -> int:
        return self._source.read_bytes

    @property
    def decompressed_bytes(self) -> int:
        return self._decompressed.produced
