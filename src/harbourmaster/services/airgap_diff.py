"""``airgap diff``: what one bundle adds to and removes from another, from their manifests."""

from __future__ import annotations

from pathlib import Path

from harbourmaster.airgap.diff import BundleDiff, diff_manifests
from harbourmaster.services.airgap_export import read_previous

__all__ = ["diff_bundles"]


def diff_bundles(old: Path, new: Path) -> BundleDiff:
    """The images, tags and blobs the bundle manifest ``new`` adds and removes relative to ``old``.
    Reads the two files only (no signature check: this compares, it approves nothing).

    Raises:
        BundleInvalid: either file is unreadable or not a bundle manifest.
    """
    return diff_manifests(read_previous(old)[1], read_previous(new)[1])
