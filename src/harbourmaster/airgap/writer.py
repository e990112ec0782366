"""Writing a bundle: files placed in parts (or not), each written under a temporary name and renamed
once complete, and the file list, manifest, signature and checksums written last.

:meth:`BundleWriter.place` decides where a file of a known size goes (cutting a blob bigger than what
a part has left into pieces); :meth:`BundleWriter.sink` streams one blob into its place, hashing each
piece; :meth:`BundleWriter.adopt` records a whole blob already written and verified by its digest
(its sha256 is the digest), so it is not hashed twice; :meth:`BundleWriter.add_file` moves a file
written beside the bundle (an advisory zip) into its place.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import BinaryIO, Final

from harbourmaster.airgap.bundle import CHECKSUMS, MANIFEST, SIGNATURE, BundleFile, BundleInvalid

__all__ = ["BlobSink", "BundleWriter", "parse_size"]

_SIZE: Final = re.compile(r"^\s*([0-9]+)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNITS: Final = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
#: A part must hold a little more than the small files (index.json, oci-layout) and a piece.
MIN_SPLIT: Final = 1024 * 1024


def parse_size(text: str) -> int:
    """Bytes in ``text`` (``4GiB``, ``500MB``, ``1048576``).

    Raises:
        BundleInvalid: not a size, or under 1 MiB.
    """
    match = _SIZE.match(text)
    if match is None:
        raise BundleInvalid(f"--split-size {text!r}: expected a size such as 4GiB, 700MB or 1048576")
    unit = (match.group(2) or "").lower()
    factor = 1024 ** " kmgt".index(unit[0]) if "i" in unit else _UNITS[unit[:1]]
    size = int(match.group(1)) * factor
    if size < MIN_SPLIT:
        raise BundleInvalid(f"--split-size {text!r}: a part must be at least 1MiB")
    return size


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


class BlobSink:
    """One blob being written into its planned files; :meth:`commit` renames them into place."""

    def __init__(self, writer: BundleWriter, plan: list[tuple[str, int]]) -> None:
        self._writer, self._plan = writer, plan
        self._index, self._written = 0, 0
        self._hasher = hashlib.sha256()
        self._fh: BinaryIO | None = None
        self._done: list[BundleFile] = []
        self._open()

    def _open(self) -> None:
        path = self._writer.root / self._plan[self._index][0]
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(_temporary(path), "wb")  # noqa: SIM115 - closed by _close_piece or abort
        if self._plan[self._index][1] == 0:
            self._close_piece()  # an empty blob is complete as soon as it is opened

    def _close_piece(self) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None
        rel, size = self._plan[self._index]
        self._done.append(BundleFile(path=rel, sha256=self._hasher.hexdigest(), size=size))
        self._index += 1
        self._written = 0
        self._hasher = hashlib.sha256()
        if self._index < len(self._plan):
            self._open()

    def write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view:
            if self._fh is None:
                raise BundleInvalid("more bytes than the blob's size")
            room = self._plan[self._index][1] - self._written
            piece, view = view[:room], view[room:]
            self._fh.write(piece)
            self._hasher.update(piece)
            self._written += len(piece)
            if self._written == self._plan[self._index][1]:
                self._close_piece()

    def commit(self) -> None:
        """Rename every piece into place (the blob's digest was verified by the caller)."""
        if self._fh is not None or self._index != len(self._plan):
            self.abort()
            raise BundleInvalid("the blob ended before its size")
        for entry in self._done:
            path = self._writer.root / entry.path
            os.replace(_temporary(path), path)
            self._writer.files[entry.path] = entry

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        for rel, _ in self._plan:
            _temporary(self._writer.root / rel).unlink(missing_ok=True)


class BundleWriter:
    """Places and records the files of a bundle under ``root`` (which must be new or empty)."""

    def __init__(self, root: Path, *, split_size: int | None = None) -> None:
        """Raises: BundleInvalid: ``root`` exists and is not an empty directory."""
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise BundleInvalid(f"-o {root}: must be a new or empty directory")
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.split_size = split_size
        self.files: dict[str, BundleFile] = {}
        self._part, self._used = 1, 0

    def _in_part(self, rel: str, part: int) -> str:
        return f"part-{part:03d}/{rel}"

    def place(self, rel: str, size: int) -> list[tuple[str, int]]:
        """Where a file of ``size`` bytes at ``rel`` (``oci/blobs/sha256/<hex>``) goes: one path, or its
        pieces in consecutive parts, each with its size."""
        limit = self.split_size
        if limit is None:
            return [(rel, size)]
        if self._used + size <= limit:
            self._used += size
            return [(self._in_part(rel, self._part), size)]
        if size <= limit:
            self._part, self._used = self._part + 1, size
            return [(self._in_part(rel, self._part), size)]
        plan: list[tuple[str, int]] = []
        left = size
        while left:
            room = limit - self._used
            if room <= 0:
                self._part, self._used = self._part + 1, 0
                continue
            take = min(room, left)
            plan.append((self._in_part(f"{rel}.piece{len(plan):03d}", self._part), take))
            self._used += take
            left -= take
        return plan

    def sink(self, plan: list[tuple[str, int]]) -> BlobSink:
        return BlobSink(self, plan)

    def adopt(self, rel: str, *, sha256: str, size: int) -> None:
        """Record a file written at ``rel`` whose sha256 the caller verified."""
        self.files[rel] = BundleFile(path=rel, sha256=sha256, size=size)

    def write_file(self, rel: str, data: bytes) -> tuple[str, ...]:
        """Place and write a small file (a manifest, index.json); its paths (one, or its pieces)."""
        plan = self.place(rel, len(data))
        sink = self.sink(plan)
        sink.write(data)
        sink.commit()
        return tuple(path for path, _ in plan)

    def add_file(self, rel: str, source: Path) -> tuple[str, tuple[str, ...]]:
        """Move the finished local file ``source`` to its place at ``rel`` (renamed when it fits whole,
        else streamed into its pieces and removed); its whole sha256 and its paths.

        Raises:
            OSError: ``source`` cannot be read, or the bundle written.
        """
        size = source.stat().st_size
        plan = self.place(rel, size)
        whole = hashlib.sha256()
        if len(plan) == 1:
            with open(source, "rb") as fh:
                while block := fh.read(1024 * 1024):
                    whole.update(block)
            path = self.root / plan[0][0]
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, path)
            self.adopt(plan[0][0], sha256=whole.hexdigest(), size=size)
            return whole.hexdigest(), (plan[0][0],)
        sink = self.sink(plan)
        try:
            with open(source, "rb") as fh:
                while block := fh.read(1024 * 1024):
                    whole.update(block)
                    sink.write(block)
        except BaseException:
            sink.abort()
            raise
        sink.commit()
        source.unlink()
        return whole.hexdigest(), tuple(path for path, _ in plan)

    def write_top(self, name: str, data: bytes) -> None:
        """Write ``manifest.json``, its signature or the checksums at the top (temp file + rename)."""
        if name not in (MANIFEST, SIGNATURE, CHECKSUMS):
            raise ValueError(name)
        path = self.root / name
        tmp = _temporary(path)
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def checksums(self, manifest: bytes) -> bytes:
        """``sha256sum -c`` lines for ``manifest.json`` and every recorded file."""
        lines = [f"{hashlib.sha256(manifest).hexdigest()}  {MANIFEST}"]
        lines += [f"{f.sha256}  {f.path}" for f in sorted(self.files.values(), key=lambda f: f.path)]
        return ("\n".join(lines) + "\n").encode()
