"""The SBOM package's public names are deliberate; this pins them."""

from __future__ import annotations

import harbourmaster.supply.sbom as sbom
import harbourmaster.supply.sbom.catalogers as catalogers
import harbourmaster.supply.sbom.sources as sources

PUBLIC = {
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
}


def test_sbom_exports() -> None:
    assert set(sbom.__all__) == PUBLIC
    assert all(hasattr(sbom, name) for name in sbom.__all__)


def test_every_cataloger_is_in_the_default_set() -> None:
    classes = {getattr(catalogers, n) for n in catalogers.__all__ if n.endswith("Cataloger")}
    assert {type(c) for c in catalogers.default_catalogers()} == classes


def test_source_exports() -> None:
    assert all(hasattr(sources, name) for name in sources.__all__)
    assert {"ImageSource", "LayerDescriptor", "OciLayoutSource", "DockerArchiveSource", "open_source"} <= set(
        sources.__all__
    )
