"""Building layers and images in memory for SBOM unit tests, and an in-memory ImageSource fake."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

import zstandard

from harbourmaster.supply.sbom import ImageInfo, ImageSource, LayerDescriptor, Platform


@dataclass
class Member:
    """One tar member for a test layer."""

    name: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink, hardlink
    target: str = ""
    mode: int = 0o644


def file(name: str, data: bytes | str, mode: int = 0o644) -> Member:
    return Member(name, data.encode() if isinstance(data, str) else data, mode=mode)


def symlink(name: str, target: str) -> Member:
    return Member(name, kind="symlink", target=target)


def hardlink(name: str, target: str) -> Member:
    return Member(name, kind="hardlink", target=target)


def directory(name: str) -> Member:
    return Member(name, kind="dir", mode=0o755)


def tar_bytes(members: Iterable[Member]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            info = tarfile.TarInfo(m.name)
            info.mode = m.mode
            if m.kind == "file":
                info.size = len(m.data)
                tar.addfile(info, io.BytesIO(m.data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[
                m.kind
            ]
            info.linkname = m.target
            tar.addfile(info)
    return buf.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=1)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class FakeImageSource(ImageSource):
    """An image whose layer blobs live in memory (the in-memory fake of ImageSource)."""

    blobs: list[bytes]
    name: str = "example/app:1"
    platform: Platform = field(default_factory=lambda: Platform(os="linux", architecture="amd64"))
    verify: bool = True

    def image(self) -> ImageInfo:
        return ImageInfo(
            name=self.name,
            digest=digest_of(b"manifest:" + b"".join(self.blobs)),
            platform=self.platform,
            layer_digests=tuple(x.digest for x in self.layers()),
        )

    def layers(self) -> tuple[LayerDescriptor, ...]:
        return tuple(
            LayerDescriptor(digest=digest_of(b), size=len(b), stream_digest=self.verify) for b in self.blobs
        )

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        for blob in self.blobs:
            if digest_of(blob) == layer.digest:
                return io.BytesIO(blob)
        raise AssertionError("unknown layer")


def image(*layers: list[Member], how: str = "gzip") -> FakeImageSource:
    return FakeImageSource([compress(tar_bytes(m), how) for m in layers])
