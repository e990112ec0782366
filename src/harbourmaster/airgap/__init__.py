"""The air-gap bundle: its signed content manifest, its OCI image layout in parts, and their checks.

The format is described in :mod:`harbourmaster.airgap.bundle`; writing a bundle is
:mod:`harbourmaster.airgap.writer`, reading and verifying one :mod:`harbourmaster.airgap.reader`.
This adapter does file I/O only: no registry, no store, no signing (the services bring those).
"""

from __future__ import annotations

from harbourmaster.airgap.bundle import (
    ADVISORIES,
    CHECKSUMS,
    FORMAT,
    MANIFEST,
    SIGNATURE,
    AdvisoryArchive,
    BlobEntry,
    BundleFile,
    BundleInvalid,
    BundleManifest,
    BundleTampered,
    ImageEntry,
    OmittedBlob,
    PlatformEntry,
    ReferrerEntry,
    canonical_json,
    parse_bundle_manifest,
)
from harbourmaster.airgap.reader import BundleReader
from harbourmaster.airgap.writer import BundleWriter, parse_size

__all__ = [
    "ADVISORIES",
    "CHECKSUMS",
    "FORMAT",
    "MANIFEST",
    "SIGNATURE",
    "AdvisoryArchive",
    "BlobEntry",
    "BundleFile",
    "BundleInvalid",
    "BundleManifest",
    "BundleReader",
    "BundleTampered",
    "BundleWriter",
    "ImageEntry",
    "OmittedBlob",
    "PlatformEntry",
    "ReferrerEntry",
    "canonical_json",
    "parse_bundle_manifest",
    "parse_size",
]
