"""Copying one image, with everything that refers to it, from one registry to another.

The order is what keeps a half-copied image invisible: blobs first (mounted within one registry,
otherwise streamed from the source's response into the target's upload, never held whole in memory
or on disk), then each platform manifest of an index, then the index or manifest itself (by digest),
then its referrers (signatures, SBOMs, attestations: each referrer manifest with its blobs, found
through the referrers API or the ``sha256-<hex>`` tag fallback) and cosign's ``sha256-<hex>.sig``,
``.att`` and ``.sbom`` tags; tags come last (:meth:`ImageCopier.tag`), after the caller signs.

A cosign tag already at the target is merged, not overwritten: the layers (signatures) the source
has and the target lacks are appended, so a signature added at the target survives a resync.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from harbourmaster.registry import NotFoundInRegistry, RegistryClient
from harbourmaster.registry.client import FetchedManifest
from harbourmaster.registry.media import OCI_CONFIG, Descriptor, ImageIndex, ImageManifest

__all__ = ["COSIGN_SUFFIXES", "CopyCounts", "ImageCopier"]

#: cosign's tag-scheme companions of an image: signatures, attestations, attached SBOMs.
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
#: How deep referrers of referrers are followed (a signature of an SBOM is depth 2).
_MAX_REFERRER_DEPTH = 3


@dataclass(slots=True)
class CopyCounts:
    """What one copy moved: blobs (and their bytes), manifests, referrers and cosign tags."""

    blobs: int = 0
    bytes: int = 0
    manifests: int = 0
    referrers: list[str] = field(default_factory=list)
    cosign_tags: list[str] = field(default_factory=list)


@dataclass
class ImageCopier:
    """Copies from ``source`` (repository ``source_repo``) to ``target`` (``target_repo``);
    ``same_registry``: blobs are mounted across repositories instead of streamed."""

    source: RegistryClient
    target: RegistryClient
    source_repo: str
    target_repo: str
    same_registry: bool = False
    on_bytes: Callable[[int], None] | None = None
    counts: CopyCounts = field(default_factory=CopyCounts)

    async def present(self, digest: str) -> bool:
        """Whether the target repository has the manifest ``digest`` (HEAD by digest)."""
        try:
            await self.target.head_manifest(self.target_repo, digest)
        except NotFoundInRegistry:
            return False
        return True

    async def _blob(self, descriptor: Descriptor) -> None:
        if await self.target.blob_size(self.target_repo, descriptor.digest) is not None:
            return
        if self.same_registry and await self.target.mount_blob(
            self.target_repo, descriptor.digest, from_repository=self.source_repo
        ):
            self.counts.blobs += 1
            return
        chunks = self.source.stream_blob(self.source_repo, descriptor.digest, expected_size=descriptor.size)
        await self.target.upload_blob_stream(
            self.target_repo, self._counted(chunks), digest=descriptor.digest, size=descriptor.size
        )
        self.counts.blobs += 1
        self.counts.bytes += descriptor.size

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if self.on_bytes is not None:
                self.on_bytes(len(chunk))
            yield chunk

    async def manifest(self, fetched: FetchedManifest, *, reference: str | None = None) -> None:
        """Copy ``fetched`` and everything it points to (children of an index, blobs), then put it
        under its digest (or ``reference``)."""
        parsed = fetched.parsed
        if isinstance(parsed, ImageIndex):
            for child in parsed.manifests:
                if not await self.present(child.digest):
                    await self.manifest(await self.source.get_manifest(self.source_repo, child.digest))
        else:
            for descriptor in (parsed.config, *parsed.layers):
                await self._blob(descriptor)
        await self.target.put_manifest(
            self.target_repo, reference or fetched.digest, fetched.raw, media_type=fetched.media_type
        )
        self.counts.manifests += 1

    async def image(self, digest: str) -> FetchedManifest:
        """Copy the image ``digest`` (an index with every platform, or a manifest) by digest."""
        fetched = await self.source.get_manifest(self.source_repo, digest)
        await self.manifest(fetched)
        return fetched

    async def subjects(self, fetched: FetchedManifest) -> list[str]:
        """The digests whose referrers travel with the image: it, and each platform manifest."""
        out = [str(fetched.digest)]
        if isinstance(fetched.parsed, ImageIndex):
            out += [str(d.digest) for d in fetched.parsed.manifests]
        return out

    async def referrers(self, subject: str, *, depth: int = 1) -> None:
        """Copy every referrer of ``subject`` missing at the target (and theirs, a few levels deep)."""
        found = await self.source.referrers(self.source_repo, subject)
        for descriptor in found.descriptors:
            if not await self.present(descriptor.digest):
                await self.manifest(await self.source.get_manifest(self.source_repo, descriptor.digest))
                self.counts.referrers.append(str(descriptor.digest))
            if depth < _MAX_REFERRER_DEPTH:
                await self.referrers(descriptor.digest, depth=depth + 1)

    async def cosign_tags(self, subject: str) -> None:
        """Copy (or merge into the target's) cosign's ``sha256-<hex>.sig|.att|.sbom`` of ``subject``."""
        algorithm, _, hex_part = subject.partition(":")
        for suffix in COSIGN_SUFFIXES:
            tag = f"{algorithm}-{hex_part}{suffix}"
            try:
                source = await self.source.get_manifest(self.source_repo, tag)
            except NotFoundInRegistry:
                continue
            try:
                current = await self.target.get_manifest(self.target_repo, tag)
            except NotFoundInRegistry:
                await self.manifest(source, reference=tag)
                self.counts.cosign_tags.append(tag)
                continue
            if current.digest != source.digest and await self._merge(tag, source, current):
                self.counts.cosign_tags.append(tag)

    async def _merge(self, tag: str, source: FetchedManifest, current: FetchedManifest) -> bool:
        """Append the source's layers the target's ``tag`` lacks; False when it lacks none."""
        have, add = current.parsed, source.parsed
        if not isinstance(have, ImageManifest) or not isinstance(add, ImageManifest):
            return False
        known = {layer.digest for layer in have.layers}
        missing = [layer for layer in add.layers if layer.digest not in known]
        if not missing:
            return False
        for layer in missing:
            await self._blob(layer)
        layers = [*have.layers, *missing]
        # cosign's signature image: an empty-platform config whose diff_ids are the layer digests.
        config = json.dumps(
            {
                "architecture": "",
                "created": "0001-01-01T00:00:00Z",
                "history": [{"created": "0001-01-01T00:00:00Z"} for _ in layers],
                "os": "",
                "rootfs": {"type": "layers", "diff_ids": [str(layer.digest) for layer in layers]},
                "config": {},
            },
            separators=(",", ":"),
        ).encode()
        config_digest = await self.target.upload_blob(self.target_repo, config)
        document = {
            "schemaVersion": 2,
            "mediaType": have.media_type,
            "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": config_digest},
            "layers": [layer.to_json() for layer in layers],
        }
        raw = json.dumps(document, separators=(",", ":")).encode()
        await self.target.put_manifest(self.target_repo, tag, raw, media_type=have.media_type)
        self.counts.manifests += 1
        return True

    async def tag(self, fetched: FetchedManifest, tag: str) -> bool:
        """Point ``tag`` at the copied image (the last step); False when it already points there."""
        try:
            head = await self.target.head_manifest(self.target_repo, tag)
        except NotFoundInRegistry:
            head = None
        if head is not None and head.digest == fetched.digest:
            return False
        await self.target.put_manifest(self.target_repo, tag, fetched.raw, media_type=fetched.media_type)
        return True
