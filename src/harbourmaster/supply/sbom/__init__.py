"""Software bills of materials for images: catalog layers as streams, write CycloneDX or SPDX.

The core call is :func:`scan_image` (an :class:`ImageSource` and the catalogers
in, an :class:`Sbom` out), then :func:`render_sbom` for a document.
"""

from __future__ import annotations

from harbourmaster.supply.sbom.catalogers import default_catalogers
from harbourmaster.supply.sbom.formats import SbomFormat, render_sbom, validate_sbom
from harbourmaster.supply.sbom.interface import (
    Cataloger,
    Distro,
    FileEntry,
    FileFindings,
    FoundPackage,
    ImageInfo,
    LayerError,
    Package,
    PackageType,
    Platform,
    Sbom,
    SbomError,
    ScanLimits,
    ScanWarning,
    SourceError,
)
from harbourmaster.supply.sbom.scan import ScanProgress, scan_image
from harbourmaster.supply.sbom.sources import ImageSource, LayerDescriptor, open_source, parse_platform

__all__ = [
    "Cataloger",
    "Distro",
    "FileEntry",
    "FileFindings",
    "FoundPackage",
    "ImageInfo",
    "ImageSource",
    "LayerDescriptor",
    "LayerError",
    "Package",
    "PackageType",
    "Platform",
    "Sbom",
    "SbomError",
    "SbomFormat",
    "ScanLimits",
    "ScanProgress",
    "ScanWarning",
    "SourceError",
    "default_catalogers",
    "open_source",
    "parse_platform",
    "render_sbom",
    "scan_image",
    "validate_sbom",
]
