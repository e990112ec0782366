"""Building blocks for ``registry browse`` and ``resolve``: what an image reference holds.

:func:`describe_image` reads the manifest (and, for an index, each platform's
manifest) and each config blob, and reports digest, media type, platforms,
total size and created time.  :func:`resolve_digest` is the tag-to-digest
lookup decisions pin to (``HEAD`` with a ``GET`` fallback).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass

from harbourmaster.domain.platform import PlatformError
from harbourmaster.registry.client import RegistryClient
from harbourmaster.registry.errors import ManifestError
from harbourmaster.registry.media import Digest, ImageIndex, ImageManifest, Platform

__all__ = ["ImageSummary", "PlatformImage", "describe_image", "resolve_digest"]


@dataclass(frozen=True)
class PlatformImage:
    """One platform's image inside an index (or the only image)."""

    digest: Digest
    media_type: str
    platform: Platform | None
    size: int
    created: dt.datetime | None


@dataclass(frozen=True)
class ImageSummary:
    """What ``browse REPO:TAG`` shows."""

    repository: str
    reference: str
    digest: Digest
    media_type: str
    platforms: tuple[PlatformImage, ...]

    @property
    def total_size(self) -> int:
        """The sum over platforms of config plus layer bytes."""
        return sum(p.size for p in self.platforms)

    @property
    def created(self) -> dt.datetime | None:
        """The latest created time among the platforms."""
        times = [p.created for p in self.platforms if p.created is not None]
        return max(times) if times else None


def _created(config: bytes) -> tuple[dt.datetime | None, Platform | None]:
    try:
        doc = json.loads(config)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    created = None
    if isinstance(doc.get("created"), str):
        text = doc["created"].replace("Z", "+00:00")
        # Go writes nanoseconds; Python takes microseconds.
        if "." in text:
            head, _, tail = text.partition(".")
            digits = "".join(ch for ch in tail if ch.isdigit())
            text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
        try:
            created = dt.datetime.fromisoformat(text)
        except ValueError:
            created = None
    try:
        platform: Platform | None = Platform.from_oci(doc, where="image config")
    except PlatformError:  # browsing shows what it can: an odd platform is left out, not an error
        platform = None
    return created, platform


async def _platform_image(
    client: RegistryClient,
    repository: str,
    digest: Digest,
    media_type: str,
    manifest: ImageManifest,
    platform: Platform | None,
) -> PlatformImage:
    config = await client.read_blob(repository, manifest.config.digest, expected_size=manifest.config.size)
    created, config_platform = _created(config)
    return PlatformImage(
        digest=digest,
        media_type=media_type,
        platform=platform or config_platform,
        size=manifest.total_size,
        created=created,
    )


async def describe_image(client: RegistryClient, repository: str, reference: str) -> ImageSummary:
    """Digest, media type, platforms, sizes and created times of ``repository:reference``.

    Raises:
        ManifestError: an index entry is not an image manifest.
        RegistryError: any registry failure.
    """
    top = await client.get_manifest(repository, reference)
    if isinstance(top.parsed, ImageManifest):
        platforms: tuple[PlatformImage, ...] = (
            await _platform_image(client, repository, top.digest, top.media_type, top.parsed, None),
        )
    else:
        index: ImageIndex = top.parsed

        async def one(i: int) -> PlatformImage:
            entry = index.manifests[i]
            child = await client.get_manifest(repository, entry.digest)
            if not isinstance(child.parsed, ImageManifest):
                raise ManifestError(
                    f"index entry {entry.digest} is not an image manifest",
                    registry=client.endpoint.host,
                    repository=repository,
                )
            return await _platform_image(
                client, repository, child.digest, child.media_type, child.parsed, entry.platform
            )

        platforms = tuple(await asyncio.gather(*(one(i) for i in range(len(index.manifests)))))
    return ImageSummary(
        repository=repository,
        reference=reference,
        digest=top.digest,
        media_type=top.media_type,
        platforms=platforms,
    )


async def resolve_digest(client: RegistryClient, repository: str, reference: str) -> Digest:
    """The digest ``repository:reference`` points to now (``HEAD``, falling back to ``GET``).

    Raises:
        NotFoundInRegistry: no such tag.
        RegistryError: any other failure.
    """
    return await client.resolve(repository, reference)
