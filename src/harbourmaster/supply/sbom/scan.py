"""The layer walker: one streaming pass per layer, then whiteouts and overrides across layers.

Findings are keyed by path.  A later layer that deletes a path (``.wh.NAME``),
makes a directory opaque (``.wh..wh..opq``), or writes anything at a path,
hides what earlier layers reported there.  Memory holds the findings and the
one member being cataloged, never a layer.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from harbourmaster.supply.sbom.interface import (
    Cataloger,
    Distro,
    FileEntry,
    FileFindings,
    Package,
    Sbom,
    SbomError,
    ScanLimits,
    ScanWarning,
)
from harbourmaster.supply.sbom.layers import LayerReader, MemberKind
from harbourmaster.supply.sbom.purls import purl_for
from harbourmaster.supply.sbom.sources.interface import ImageSource, LayerDescriptor

__all__ = ["ScanProgress", "scan_image"]

_MAX_SYMLINK_HOPS = 40
OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")


class ScanProgress(Protocol):
    """Receives progress while layers stream (a terminal progress bar, for instance).

    ``advance`` is called from the thread that reads the layer ahead, so it must be
    thread-safe (rich's ``Progress`` is).
    """

    def start_layer(self, index: int, layer: LayerDescriptor) -> None: ...
    def advance(self, index: int, compressed_bytes: int) -> None: ...
    def finish_layer(self, index: int) -> None: ...


@dataclass
class _Found:
    layer: str
    findings: list[FileFindings]


def _ancestors(path: str) -> list[str]:
    out = []
    while path not in ("/", ""):
        path = posixpath.dirname(path)
        out.append(path)
    return out


class _Filesystem:
    """The union view of the layers read so far, restricted to paths a cataloger cared about."""

    def __init__(self) -> None:
        self.files: dict[str, _Found] = {}
        self.links: dict[str, tuple[str, str]] = {}  # path -> (layer, target)
        self._dirs: set[str] = set()

    def apply_layer(self, *, files: dict[str, _Found], links: dict[str, tuple[str, str]],
                    hidden: set[str], hidden_below: set[str]) -> None:
        def gone(path: str) -> bool:
            return path in hidden or any(a in hidden_below for a in _ancestors(path))

        for table in (self.files, self.links):
            for path in [p for p in table if gone(p)]:
                del table[path]
        self.files.update(files)
        self.links.update(links)
        self._dirs = {a for p in (*self.files, *self.links) for a in _ancestors(p)}

    def touches(self, path: str) -> bool:
        return path in self.files or path in self.links

    def is_parent(self, path: str) -> bool:
        return path in self._dirs

    def resolve(self, path: str, warnings: list[ScanWarning]) -> _Found | None:
        """The findings at ``path``, following recorded symlinks (a loop becomes a warning)."""
        for _ in range(_MAX_SYMLINK_HOPS):
            if path in self.files:
                return self.files[path]
            if path not in self.links:
                return None
            _layer, target = self.links[path]
            base = "/" if target.startswith("/") else posixpath.dirname(path)
            path = posixpath.normpath(posixpath.join(base, target))
            path = "/" + path.lstrip("/")  # '..' past the root stays at the root
        warnings.append(ScanWarning(
            message=f"symlink loop (more than {_MAX_SYMLINK_HOPS} hops); not followed", path=path))
        return None


class _LayerPass:
    """What one layer adds, deletes and overrides."""

    def __init__(self, *, digest: str, below: _Filesystem, catalogers: Sequence[Cataloger],
                 limits: ScanLimits, warnings: list[ScanWarning]) -> None:
        self.digest = digest
        self.below = below
        self.catalogers = catalogers
        self.limits = limits
        self.warnings = warnings
        self.files: dict[str, _Found] = {}
        self.links: dict[str, tuple[str, str]] = {}
        self.hidden: set[str] = set()
        self.hidden_below: set[str] = set()

    def run(self, reader: LayerReader) -> None:
        for member in reader:
            path = member.entry.path
            if member.kind is MemberKind.WHITEOUT:
                self.hidden.add(member.target)
                self.hidden_below.add(member.target)
                continue
            if member.kind is MemberKind.OPAQUE:
                self.hidden_below.add(member.target)
                continue
            if self.below.touches(path):
                self.hidden.add(path)
            if member.kind is not MemberKind.DIRECTORY and self.below.is_parent(path):
                self.hidden_below.add(path)
            self.files.pop(path, None)
            self.links.pop(path, None)
            if member.kind is MemberKind.FILE:
                self._catalog(member.entry, reader)
            elif member.kind is MemberKind.SYMLINK:
                if any(c.wants(member.entry) for c in self.catalogers):
                    self.links[path] = (self.digest, member.entry.link_target)
            elif member.kind is MemberKind.HARDLINK:
                self._hardlink(member.entry, member.target)
        for path, message in reader.warnings:
            self.warnings.append(ScanWarning(message=message, layer_digest=self.digest, path=path))

    def _catalog(self, entry: FileEntry, reader: LayerReader) -> None:
        results: list[FileFindings] = []
        for cataloger in self.catalogers:
            if not cataloger.wants(entry):
                continue
            cap = self.limits.max_binary_bytes if cataloger.reads_binaries else self.limits.max_file_bytes
            if entry.size > cap:
                results.append(FileFindings(warnings=(
                    f"{cataloger.name}: file of {entry.size} bytes exceeds the {cap}-byte limit; skipped",)))
                continue
            try:
                results.append(cataloger.catalog(entry, reader.open_member(), limits=self.limits))
            except SbomError:
                raise
            except Exception as exc:  # one malformed file must never abort the scan
                results.append(FileFindings(warnings=(
                    f"{cataloger.name}: could not parse ({type(exc).__name__}: {exc})",)))
        if results:
            self.files[entry.path] = _Found(layer=self.digest, findings=results)

    def _hardlink(self, entry: FileEntry, target: str) -> None:
        if not any(c.wants(dataclasses.replace(entry, size=0)) for c in self.catalogers):
            return
        found = self.files.get(target)
        if found is None:
            self.warnings.append(ScanWarning(
                message=f"hard link to {target}, which is not an earlier cataloged member of this layer "
                        "(missing target); skipped", layer_digest=self.digest, path=entry.path))
            return
        relocated = [dataclasses.replace(f, packages=tuple(dataclasses.replace(p, path=entry.path)
                                                             for p in f.packages)) for f in found.findings]
        self.files[entry.path] = _Found(layer=self.digest, findings=relocated)


def scan_image(source: ImageSource, *, catalogers: Sequence[Cataloger],
               limits: ScanLimits | None = None, progress: ScanProgress | None = None) -> Sbom:
    """Catalog every layer of ``source`` and return the :class:`Sbom` of the final file system.

    Raises :class:`LayerError` when a layer cannot be read (not a tar,
    truncated, a decompression bomb, a digest mismatch) and
    :class:`SourceError` when a blob is missing.  File-level problems become
    warnings in the result.
    """
    limits = limits or ScanLimits()
    view = _Filesystem()
    warnings: list[ScanWarning] = []
    for index, layer in enumerate(source.layers()):
        if progress is not None:
            progress.start_layer(index, layer)
        step = _LayerPass(digest=layer.digest, below=view, catalogers=catalogers, limits=limits,
                          warnings=warnings)
        with source.open_layer(layer) as raw:
            def on_bytes(n: int, index: int = index) -> None:
                if progress is not None:
                    progress.advance(index, n)
            reader = LayerReader(raw, layer_digest=layer.digest, verify_digest=layer.stream_digest,
                                 limits=limits, on_progress=on_bytes)
            try:
                step.run(reader)
            finally:
                reader.close()
        view.apply_layer(files=step.files, links=step.links, hidden=step.hidden,
                         hidden_below=step.hidden_below)
        if progress is not None:
            progress.finish_layer(index)
    return _assemble(source, view, warnings)


def _assemble(source: ImageSource, view: _Filesystem, warnings: list[ScanWarning]) -> Sbom:
    distro: Distro | None = None
    for path in OS_RELEASE_PATHS:
        found = view.resolve(path, warnings)
        if found is not None:
            distro = next((f.distro for f in found.findings if f.distro is not None), None)
            if distro is not None:
                break
    packages: list[Package] = []
    for path, found in view.files.items():
        for findings in found.findings:
            warnings.extend(ScanWarning(message=m, layer_digest=found.layer, path=path)
                            for m in findings.warnings)
            for p in findings.packages:
                try:
                    purl = purl_for(p, distro)
                except ValueError as exc:  # packageurl refuses, e.g., an empty name
                    message = f"{p.type.value} package {p.name!r}: no valid purl ({exc}); skipped"
                    warnings.append(ScanWarning(message=message, layer_digest=found.layer, path=path))
                    continue
                packages.append(Package(
                    name=p.name, version=p.version, type=p.type, purl=purl, path=p.path,
                    layer_digest=found.layer, arch=p.arch, source_package=p.source_package,
                    source_version=p.source_version, licenses=p.licenses))
    packages.sort(key=lambda p: (p.type.value, p.name, p.version, p.path))
    return Sbom(image=source.image(), packages=tuple(packages), distro=distro, warnings=tuple(warnings))
