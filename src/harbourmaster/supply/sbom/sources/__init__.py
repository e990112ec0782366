"""Image sources: OCI layouts and docker-archive tarballs on disk."""

from __future__ import annotations

import os

from harbourmaster.supply.sbom.interface import Platform, SourceError
from harbourmaster.supply.sbom.sources._json import parse_platform
from harbourmaster.supply.sbom.sources.docker_archive import DockerArchiveSource
from harbourmaster.supply.sbom.sources.interface import ImageSource, LayerDescriptor
from harbourmaster.supply.sbom.sources.oci_layout import OciLayoutSource

__all__ = [
    "DockerArchiveSource",
    "ImageSource",
    "LayerDescriptor",
    "OciLayoutSource",
    "open_source",
    "parse_platform",
    "split_location",
]

OCI_LAYOUT = "oci-layout:"
DOCKER_ARCHIVE = "docker-archive:"


def split_location(rest: str, *, must_be_dir: bool) -> tuple[str, str]:
    """``DIR[:TAG]`` → ``(DIR, TAG)``; a path that exists as given wins over a ``:TAG`` reading."""
    exists = os.path.isdir if must_be_dir else os.path.isfile
    if exists(rest) or ":" not in rest:
        return rest, ""
    path, _, tag = rest.rpartition(":")
    return path, tag


def open_source(spec: str, *, platform: Platform | None = None) -> ImageSource:
    """Open ``oci-layout:DIR[:TAG]`` or ``docker-archive:FILE[:REF]``.

    Raises :class:`SourceError` for any other form (registry references are
    not accepted here) and for a missing or malformed source.
    """
    try:
        if spec.startswith(OCI_LAYOUT):
            path, tag = split_location(spec[len(OCI_LAYOUT):], must_be_dir=True)
            if not os.path.isdir(path):
                raise SourceError(f"{spec}: directory {path!r} does not exist")
            return OciLayoutSource(path, tag=tag, platform=platform)
        if spec.startswith(DOCKER_ARCHIVE):
            path, ref = split_location(spec[len(DOCKER_ARCHIVE):], must_be_dir=False)
            if not os.path.isfile(path):
                raise SourceError(f"{spec}: file {path!r} does not exist")
            return DockerArchiveSource(path, ref=ref)
    except (TypeError, ValueError, AttributeError) as exc:
        raise SourceError(f"{spec}: malformed image metadata ({exc})") from exc
    raise SourceError(f"{spec!r} is not an image source; use oci-layout:DIR[:TAG] or docker-archive:FILE")
