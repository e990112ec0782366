"""Reading and verifying a bundle.

:meth:`BundleReader.signed_bytes` reads ``manifest.json`` and its signature and nothing else, so the
caller verifies the signature before anything of the bundle is trusted.  :meth:`BundleReader.verify`
then checks the whole directory against the signed file list and ``checksums.sha256``: an unknown file,
a missing file or part, a size or sha256 that differs, and a blob whose files do not join into its
digest are each refused with :class:`~harbourmaster.airgap.bundle.BundleTampered` naming the file and
the check.  Files are hashed as they are read, in worker threads, never held whole in memory.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

from harbourmaster.airgap.bundle import (
    CHECKSUMS,
    MANIFEST,
    SIGNATURE,
    TOP_FILES,
    AdvisoryArchive,
    BlobEntry,
    BundleFile,
    BundleInvalid,
    BundleManifest,
    BundleTampered,
)

__all__ = ["BundleReader"]

_CHUNK: Final = 1024 * 1024
_MAX_MANIFEST: Final = 64 * 1024 * 1024
_MAX_SIGNATURE: Final = 64 * 1024
_MAX_SMALL: Final = 4 * 1024 * 1024


class BundleReader:
    """A bundle directory on disk; ``progress`` (if given) is told of every byte hashed."""

    def __init__(self, root: Path, *, progress: Callable[[int], None] | None = None) -> None:
        """Raises: BundleInvalid: ``root`` is not a directory."""
        if not root.is_dir():
            raise BundleInvalid(f"{root}: not a bundle directory")
        self.root = root
        self.name = str(root)
        self._progress = progress
        self._listed: dict[str, BundleFile] = {}

    def _refuse(self, file: str, check: str, reason: str) -> BundleTampered:
        return BundleTampered(self.name, file, check, reason)

    def _read_top(self, name: str, limit: int) -> bytes:
        path = self.root / name
        if path.is_symlink() or not path.is_file():
            raise self._refuse(name, "presence", "missing (or not a regular file)")
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise self._refuse(name, "size", f"larger than {limit} bytes")
        return data

    def signed_bytes(self) -> tuple[bytes, str]:
        """``manifest.json``'s bytes and the signature text, and nothing else read.

        Raises:
            BundleTampered: either is missing, or too large.
        """
        signature = self._read_top(SIGNATURE, _MAX_SIGNATURE).decode("ascii", errors="replace").strip()
        return self._read_top(MANIFEST, _MAX_MANIFEST), signature

    # -- the whole bundle ----------------------------------------------------------------------

    def _on_disk(self) -> set[str]:
        found: set[str] = set()
        for directory, dirs, names in os.walk(self.root, followlinks=False):
            for name in [*names, *dirs]:
                path = Path(directory) / name
                rel = path.relative_to(self.root).as_posix()
                if path.is_symlink():
                    raise self._refuse(
                        rel, "file list", "a symbolic link (a bundle holds only regular files)"
                    )
                if name in names:
                    found.add(rel)
        return found

    def _hash(self, rel: str) -> tuple[str, int]:
        hasher, size = hashlib.sha256(), 0
        with open(self.root / rel, "rb") as fh:
            while block := fh.read(_CHUNK):
                hasher.update(block)
                size += len(block)
                if self._progress is not None:
                    self._progress(len(block))
        return hasher.hexdigest(), size

    def _check_checksums(self, manifest: BundleManifest, raw_manifest: bytes) -> None:
        raw = self._read_top(CHECKSUMS, _MAX_MANIFEST)
        expected = {f.path: f.sha256 for f in manifest.files}
        expected[MANIFEST] = hashlib.sha256(raw_manifest).hexdigest()
        seen: dict[str, str] = {}
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            digest, sep, path = line.partition("  ")
            path = path.removeprefix("*")
            if not sep or len(digest) != 64 or path in seen:
                raise self._refuse(CHECKSUMS, "checksums", f"line {number} is not '<sha256>  <file>' once")
            if path not in expected:
                raise self._refuse(path, "checksums", "in checksums.sha256, not in the signed manifest")
            if digest != expected[path]:
                raise self._refuse(path, "checksums", "checksums.sha256 disagrees with the signed manifest")
            seen[path] = digest
        for path in sorted(set(expected) - set(seen)):
            raise self._refuse(path, "checksums", "missing from checksums.sha256")

    def verify(self, manifest: BundleManifest, raw_manifest: bytes) -> None:
        """Check every file against the signed list and the checksums, and every blob's digest.

        Raises:
            BundleTampered: naming the first file that fails and the check.
        """
        listed = self._listed = {f.path: f for f in manifest.files}
        on_disk = self._on_disk() - TOP_FILES
        for rel in sorted(on_disk - set(listed)):
            raise self._refuse(rel, "file list", "an unknown file, not in the signed manifest")
        for rel in sorted(set(listed) - on_disk):
            raise self._refuse(rel, "file list", "missing: the signed manifest lists it")
        for rel, entry in sorted(listed.items()):
            size = (self.root / rel).stat().st_size
            if size != entry.size:
                raise self._refuse(rel, "size", f"{size} bytes, the signed manifest says {entry.size}")
        self._check_checksums(manifest, raw_manifest)
        in_blobs = {path for blob in manifest.blobs for path in blob.files}
        with ThreadPoolExecutor(max_workers=4) as pool:
            blob_checks = pool.map(self._check_blob, manifest.blobs)
            file_checks = pool.map(self._hash, sorted(set(listed) - in_blobs))
            for problem in blob_checks:
                if problem is not None:
                    raise problem
            for rel, (sha, _) in zip(sorted(set(listed) - in_blobs), file_checks, strict=True):
                if sha != listed[rel].sha256:
                    raise self._refuse(rel, "sha256", "the content differs from the signed manifest")
        for archive in manifest.advisories:
            size = sum(listed[rel].size for rel in archive.files)
            single = len(archive.files) == 1 and listed[archive.files[0]].sha256 != archive.sha256
            if size != archive.size or single:
                raise self._refuse(archive.files[0], "advisories", f"its files are not {archive.path}")

    def _check_blob(self, blob: BlobEntry) -> BundleTampered | None:
        files = self._listed
        whole = hashlib.sha256()
        total = 0
        for rel in blob.files:
            piece = hashlib.sha256()
            with open(self.root / rel, "rb") as fh:
                while block := fh.read(_CHUNK):
                    piece.update(block)
                    if len(blob.files) > 1:
                        whole.update(block)
                    total += len(block)
                    if self._progress is not None:
                        self._progress(len(block))
            if piece.hexdigest() != files[rel].sha256:
                return self._refuse(rel, "sha256", "the content differs from the signed manifest")
            if len(blob.files) == 1:
                whole = piece
        if total != blob.size or f"sha256:{whole.hexdigest()}" != blob.digest:
            return self._refuse(blob.files[0], "blob digest", f"its files do not join into {blob.digest}")
        return None

    # -- content -------------------------------------------------------------------------------

    def blob_paths(self, blob: BlobEntry) -> tuple[Path, ...]:
        return tuple(self.root / rel for rel in blob.files)

    def join_archive(self, archive: AdvisoryArchive, directory: Path) -> Path:
        """The advisory zip ``archive`` as one file: its only file in the bundle, or its pieces joined
        into ``directory``; either way hashed again against the signed sha256 just before use.

        Raises:
            BundleTampered: the bytes are not the signed archive's (changed since verified).
        """
        paths = tuple(self.root / rel for rel in archive.files)
        target = paths[0] if len(paths) == 1 else directory / Path(archive.path).name
        whole = hashlib.sha256()
        out = None if len(paths) == 1 else open(target, "wb")  # noqa: SIM115 - closed below
        try:
            for path in paths:
                with open(path, "rb") as fh:
                    while block := fh.read(_CHUNK):
                        whole.update(block)
                        if out is not None:
                            out.write(block)
        finally:
            if out is not None:
                out.close()
        if whole.hexdigest() != archive.sha256:
            raise self._refuse(archive.files[0], "sha256", f"{archive.path} is not the signed archive")
        return target

    def read_small(self, blob: BlobEntry) -> bytes:
        """A manifest's bytes, verified against its digest.

        Raises:
            BundleTampered: larger than 4 MiB, or the bytes are not the digest's.
        """
        if blob.size > _MAX_SMALL:
            raise self._refuse(blob.files[0], "size", f"a manifest of {blob.size} bytes (limit 4 MiB)")
        data = b"".join(p.read_bytes() for p in self.blob_paths(blob))
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != blob.digest:
            raise self._refuse(blob.files[0], "blob digest", f"the bytes are not {blob.digest}")
        return data
