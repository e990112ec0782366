"""What a bundle adds to and removes from another: images by digest, tags (and tags that moved), and
the blobs (and bytes) of the new bundle that the old did not carry."""

from __future__ import annotations

from dataclasses import dataclass, field

from harbourmaster.airgap.bundle import BundleManifest

__all__ = ["BundleDiff", "TagMove", "diff_manifests"]


@dataclass(frozen=True, kw_only=True)
class TagMove:
    """A tag present in both bundles that points to another digest in the new one."""

    tag: str
    old: str
    new: str


@dataclass(frozen=True, kw_only=True)
class BundleDiff:
    """The differences, each list sorted; image entries are ``repository@digest``, tags
    ``repository:tag``."""

    images_added: list[str] = field(default_factory=list)
    images_removed: list[str] = field(default_factory=list)
    tags_added: list[str] = field(default_factory=list)
    tags_removed: list[str] = field(default_factory=list)
    tags_moved: list[TagMove] = field(default_factory=list)
    blobs_added: int = 0
    bytes_added: int = 0
    blobs_removed: int = 0

    @property
    def empty(self) -> bool:
        return not (
            self.images_added
            or self.images_removed
            or self.tags_added
            or self.tags_removed
            or self.tags_moved
        )


def _tags(manifest: BundleManifest) -> dict[str, str]:
    return {f"{i.repository}:{t}": i.digest for i in manifest.images for t in i.tags}


def _blobs(manifest: BundleManifest) -> dict[str, int]:
    sizes = {b.digest: b.size for b in manifest.omitted}
    sizes.update({b.digest: b.size for b in manifest.blobs})
    return sizes


def diff_manifests(old: BundleManifest, new: BundleManifest) -> BundleDiff:
    """What ``new`` adds and removes relative to ``old``."""
    old_images = {f"{i.repository}@{i.digest}" for i in old.images}
    new_images = {f"{i.repository}@{i.digest}" for i in new.images}
    old_tags, new_tags = _tags(old), _tags(new)
    old_blobs, new_blobs = _blobs(old), _blobs(new)
    added_blobs = set(new_blobs) - set(old_blobs)
    return BundleDiff(
        images_added=sorted(new_images - old_images),
        images_removed=sorted(old_images - new_images),
        tags_added=sorted(set(new_tags) - set(old_tags)),
        tags_removed=sorted(set(old_tags) - set(new_tags)),
        tags_moved=[
            TagMove(tag=t, old=old_tags[t], new=new_tags[t])
            for t in sorted(set(old_tags) & set(new_tags))
            if old_tags[t] != new_tags[t]
        ],
        blobs_added=len(added_blobs),
        bytes_added=sum(new_blobs[d] for d in added_blobs),
        blobs_removed=len(set(old_blobs) - set(new_blobs)),
    )
