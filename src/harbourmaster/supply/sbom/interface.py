"""The SBOM layer's interface: the :class:`Cataloger` contract, its value types and its errors.

A cataloger declares which files it wants (:meth:`Cataloger.wants`) and turns
the bytes of one such file into findings (:meth:`Cataloger.catalog`).  The layer
walker (:mod:`.scan`) streams every layer once, hands each cataloger the members
it asked for, and applies whiteouts and overrides across layers at the end.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import BinaryIO

from harbourmaster.domain.platform import Platform
from harbourmaster.errors import BadInput, Error

__all__ = [
    "Cataloger",
    "Distro",
    "FileEntry",
    "FileFindings",
    "FoundPackage",
    "ImageInfo",
    "LayerError",
    "Package",
    "PackageType",
    "Platform",
    "Sbom",
    "SbomError",
    "ScanLimits",
    "ScanWarning",
    "SourceError",
]

MiB = 1024 * 1024


class SbomError(Error):
    """Base of every error raised while generating an SBOM."""

    kind = "sbom-error"


class SourceError(SbomError, BadInput):
    """An image source (OCI layout, docker-archive) is missing, malformed or ambiguous."""

    kind = "sbom-source"


class LayerError(SbomError, BadInput):
    """A layer cannot be read: not a tar, truncated, a decompression bomb, a digest mismatch."""

    kind = "sbom-layer"


class PackageType(enum.StrEnum):
    """The purl type of a package, in purl's own words."""

    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYPI = "pypi"
    NPM = "npm"
    GOLANG = "golang"
    MAVEN = "maven"
    GEM = "gem"


@dataclass(frozen=True, kw_only=True)
class ScanLimits:
    """Bounds that keep memory and work independent of the image's size.

    ``max_file_bytes`` caps a database or metadata file handed to a cataloger;
    ``max_binary_bytes`` caps a binary or archive (Go executables, jars).
    ``max_layer_bytes`` and ``max_ratio`` stop a decompression bomb: the walker
    counts decompressed bytes while streaming and gives up on the layer when
    either is exceeded (the ratio only once ``ratio_floor_bytes`` were produced,
    so tiny, highly compressible layers are not mistaken for bombs).
    """

    max_file_bytes: int = 64 * MiB
    max_binary_bytes: int = 256 * MiB
    max_layer_bytes: int = 64 * 1024 * MiB
    max_ratio: float = 300.0
    ratio_floor_bytes: int = 16 * MiB
    max_nested_archive_depth: int = 3


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    """One tar member as the walker sees it: a normalised absolute path, its size and mode."""

    path: str
    size: int
    mode: int
    is_symlink: bool = False
    link_target: str = ""

    @property
    def executable(self) -> bool:
        return bool(self.mode & 0o111)


@dataclass(frozen=True, kw_only=True)
class Distro:
    """The operating system, from ``/etc/os-release``: ``ID``, ``VERSION_ID``, ``VERSION_CODENAME``."""

    id: str
    version_id: str = ""
    version_codename: str = ""
    pretty_name: str = ""


@dataclass(frozen=True, kw_only=True)
class FoundPackage:
    """A package as a cataloger found it, before the distro and the layer are known."""

    name: str
    version: str
    type: PackageType
    path: str
    namespace: str = ""
    arch: str = ""
    epoch: str = ""
    source_package: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class FileFindings:
    """What a cataloger found in one file."""

    packages: tuple[FoundPackage, ...] = ()
    distro: Distro | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Package:
    """A package in the final image, with its purl and the layer and path it came from."""

    name: str
    version: str
    type: PackageType
    purl: str
    path: str
    layer_digest: str
    arch: str = ""
    source_package: str = ""
    source_version: str = ""
    licenses: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ScanWarning:
    """Something the scan skipped or could not read, with the layer and path it concerns."""

    message: str
    layer_digest: str = ""
    path: str = ""

    def __str__(self) -> str:
        where = ", ".join(x for x in (f"layer {self.layer_digest}" if self.layer_digest else "",
                                      self.path) if x)
        return f"{where}: {self.message}" if where else self.message


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    """The image an SBOM describes: its name, digest, platform and ordered layer digests.

    ``repository`` is the registry repository the image was read from or is attached to
    (``registry.example/team/app``, as in the image's normalised reference), and ``tag``
    the tag it was named by; both are empty for a local source (an OCI layout, a
    docker-archive), whose ``name`` is the one the source gives (``layout:v1``).
    """

    name: str
    digest: str
    platform: Platform
    layer_digests: tuple[str, ...] = ()
    repository: str = ""
    tag: str = ""


@dataclass(frozen=True, kw_only=True)
class Sbom:
    """The result of cataloging an image, ready to be written as CycloneDX or SPDX."""

    image: ImageInfo
    packages: tuple[Package, ...]
    distro: Distro | None = None
    warnings: tuple[ScanWarning, ...] = field(default_factory=tuple)


class Cataloger(ABC):
    """Finds packages in the files it asks for.

    Implementations are stateless between files: everything a cataloger knows
    about a file comes from :meth:`catalog`'s arguments, so the walker may drop
    or replace its findings when a later layer deletes or overwrites the file.
    """

    #: A short name used in warnings ("dpkg", "python", ...).
    name: str = "cataloger"
    #: Whether this cataloger's files are binaries/archives (bounded by ``max_binary_bytes``).
    reads_binaries: bool = False

    @abstractmethod
    def wants(self, entry: FileEntry) -> bool:
        """Whether the walker should hand this member's bytes to :meth:`catalog`."""

    @abstractmethod
    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        """Parse one file.  ``content`` yields at most ``entry.size`` bytes.

        Malformed content is reported as a warning in the returned findings,
        never raised; only :class:`SbomError` subclasses may escape.
        """
