"""SBOMs of images on disk (``oci-layout:DIR[:TAG]``, ``docker-archive:FILE[:REF]``), kept in the SBOM store.

No registry is contacted and no governance data is read to generate one, so
generating works without a data directory (air-gapped, before ``init``);
keeping it in the store is the write, and needs the permission that
generating a registry image's SBOM needs (``registry.probe``).
"""

from __future__ import annotations

from dataclasses import dataclass

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.platform import Platform
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.supply_results import LocalSbomPublic, StoredSbomPublic
from harbourmaster.settings import DATABASE_FILE, Settings
from harbourmaster.supply.sbom import (
    Sbom,
    SbomFormat,
    ScanLimits,
    ScanProgress,
    default_catalogers,
    open_source,
    render_sbom,
    scan_image,
)

__all__ = [
    "LOCAL_PREFIXES",
    "LocalSbom",
    "generate_local_sbom",
    "keep_local_sbom",
    "sbom_store_unavailable",
]

#: How a local source is named (anything else is an image in a registry).
LOCAL_PREFIXES = ("oci-layout:", "docker-archive:")


@dataclass(frozen=True, slots=True)
class LocalSbom:
    """A generated SBOM, its rendered document, and the format it was rendered in."""

    sbom: Sbom
    format: SbomFormat
    document: str

    def public(self, *, output: str | None) -> LocalSbomPublic:
        """Its summary (``sbom generate --json``); ``output`` is where the document was written."""
        return LocalSbomPublic.of(self.sbom, fmt=self.format, output=output)


def generate_local_sbom(
    source: str,
    *,
    fmt: SbomFormat,
    platform: Platform,
    limits: ScanLimits | None = None,
    progress: ScanProgress | None = None,
) -> LocalSbom:
    """Read ``source`` layer by layer (streamed, whiteouts applied) and render its SBOM as ``fmt``.

    Raises:
        SourceError: the source cannot be opened, or names no image for ``platform``.
        LayerError: a layer cannot be read (not a tar, truncated, a decompression bomb, a digest mismatch).
    """
    with open_source(source, platform=platform) as image_source:
        sbom = scan_image(image_source, catalogers=default_catalogers(), limits=limits, progress=progress)
    return LocalSbom(sbom=sbom, format=fmt, document=render_sbom(sbom, fmt))


def sbom_store_unavailable(settings: Settings) -> str | None:
    """Why there is no SBOM store to keep a local SBOM in (no data directory), or None when there is one."""
    if settings.database_url.startswith("sqlite") and not (settings.home / DATABASE_FILE).exists():
        return "no data directory: run 'harbourmaster init' to keep SBOMs"
    return None


def keep_local_sbom(hm: Harbourmaster, principal: Principal, local: LocalSbom) -> StoredSbomPublic:
    """Keep ``local`` in the SBOM store, indexed by image digest and component purl; audited.

    Raises:
        Forbidden: ``principal`` may not generate SBOMs (``registry.probe``).
    """
    require(principal, Permission.REGISTRY_PROBE)
    stored = store_sbom(hm, local.sbom, fmt=local.format, actor=principal.audit_name, origin="generated")
    return StoredSbomPublic.of(stored)
