"""Where an image's layers come from: the :class:`ImageSource` interface.

A source knows the image (name, digest, platform), its layers in order, and
how to open one layer as a binary stream.  OCI layouts and docker-archive
tarballs are implemented here; a registry-backed source plugs in the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO

from harbourmaster.supply.sbom.interface import ImageInfo, SourceError

__all__ = ["ImageSource", "LayerDescriptor", "SourceError"]


@dataclass(frozen=True, kw_only=True)
class LayerDescriptor:
    """One layer, bottom first.

    ``digest`` names the layer in the SBOM.  When ``stream_digest`` is true the
    bytes :meth:`ImageSource.open_layer` yields hash to ``digest`` and the
    walker checks it while streaming.
    """

    digest: str
    size: int
    media_type: str = ""
    stream_digest: bool = True


class ImageSource(ABC):
    """An image whose layers can be streamed one at a time."""

    @abstractmethod
    def image(self) -> ImageInfo:
        """The image's name, digest and platform (and its layer digests, in order)."""

    @abstractmethod
    def layers(self) -> tuple[LayerDescriptor, ...]:
        """The layers, bottom (applied first) to top."""

    @abstractmethod
    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        """A readable stream of the layer blob; the caller closes it.

        Raises :class:`SourceError` when the blob is missing or unreadable.
        """

    def close(self) -> None:  # noqa: B027 - optional hook; most sources hold nothing open
        """Release anything the source holds open."""

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
