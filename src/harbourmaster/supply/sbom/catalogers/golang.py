"""Go modules from the build information the Go linker embeds in executables.

The ``.go.buildinfo`` blob starts with ``\\xff Go buildinf:``, a pointer size
and a flags byte.  Since Go 1.18 (flag bit 2) the Go version and the module
text follow inline as varint-length strings; before that the blob holds two
pointers to Go string headers, resolved here through the ELF program headers.
The module text has ``path``, ``mod``, ``dep`` and ``=>`` (replacement) lines.
Only ELF files with an executable bit are inspected, up to ``max_binary_bytes``.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from harbourmaster.supply.sbom.catalogers._elf import ELF_MAGIC, ElfError, virtual_to_offset
from harbourmaster.supply.sbom.catalogers._text import read_all
from harbourmaster.supply.sbom.interface import (
    Cataloger,
    FileEntry,
    FileFindings,
    FoundPackage,
    PackageType,
    ScanLimits,
)

__all__ = ["BuildInfo", "GoBinaryCataloger", "parse_module_text", "read_build_info"]

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_FLAG_BIG_ENDIAN, _FLAG_INLINE = 0x1, 0x2
_MIN_BINARY = 1024


class BuildInfo:
    """The Go version and module text found in a binary."""

    def __init__(self, go_version: str, modules: str) -> None:
        self.go_version = go_version
        self.modules = modules


def _varint_string(data: bytes | bytearray, at: int) -> tuple[bytes, int]:
    length, shift = 0, 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated varint in Go build info")
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if at + length > len(data):
        raise ValueError("Go build info string runs past the end of the file")
    return bytes(data[at:at + length]), at + length


def _pointer_string(data: bytes | bytearray, address: int, ptr_size: int, order: str) -> bytes:
    fmt = order + ("Q" if ptr_size == 8 else "I")
    header = virtual_to_offset(data, address)
    str_ptr, = struct.unpack_from(fmt, data, header)
    str_len, = struct.unpack_from(fmt, data, header + ptr_size)
    start = virtual_to_offset(data, str_ptr)
    if str_len > len(data) - start:
        raise ValueError("Go build info string runs past the end of the file")
    return bytes(data[start:start + str_len])


def _text(version: bytes, modules: bytes) -> BuildInfo:
    # The module text is framed by 16 (non-UTF-8) sentinel bytes on each side.
    if len(modules) >= 33 and modules[-17:-16] == b"\n":
        modules = modules[16:-16]
    return BuildInfo(version.decode("utf-8", errors="replace"), modules.decode("utf-8", errors="replace"))


def read_build_info(data: bytes | bytearray) -> BuildInfo | None:
    """The build info embedded in ELF ``data``, or ``None`` when there is none.

    Raises ``ValueError`` (or :class:`ElfError`) when the blob is present but malformed.
    """
    at = data.find(BUILDINFO_MAGIC)
    if at < 0 or at + 32 > len(data):
        return None
    ptr_size, flags = data[at + 14], data[at + 15]
    if flags & _FLAG_INLINE:
        version, nxt = _varint_string(data, at + 32)
        modules, _ = _varint_string(data, nxt)
        return _text(version, modules)
    if ptr_size not in (4, 8):
        raise ValueError(f"Go build info has an invalid pointer size {ptr_size}")
    order = ">" if flags & _FLAG_BIG_ENDIAN else "<"
    fmt = order + ("Q" if ptr_size == 8 else "I")
    version_addr, = struct.unpack_from(fmt, data, at + 16)
    modules_addr, = struct.unpack_from(fmt, data, at + 16 + ptr_size)
    version = _pointer_string(data, version_addr, ptr_size, order)
    modules = _pointer_string(data, modules_addr, ptr_size, order) if modules_addr else b""
    return _text(version, modules)


def parse_module_text(text: str, *, path: str) -> list[FoundPackage]:
    """Main module and dependencies from ``mod``/``dep``/``=>`` lines.

    A replacement by another module (``=> other/path v1.2.3``) is reported as
    that module; a replacement by a local directory keeps the required version.
    ``(devel)`` (a main module built from a checkout) becomes an empty version.
    """
    modules: list[tuple[str, str]] = []
    for line in text.splitlines():
        fields = line.split("\t")
        if fields[0] in ("mod", "dep") and len(fields) >= 3:
            modules.append((fields[1], fields[2]))
        elif fields[0] == "=>" and len(fields) >= 3 and modules:
            target, version = fields[1], fields[2]
            if not target.startswith((".", "/")) and version != "(devel)":
                modules[-1] = (target, version)
    return [FoundPackage(name=name, version="" if version == "(devel)" else version,
                         type=PackageType.GOLANG, path=path) for name, version in modules if name]


class GoBinaryCataloger(Cataloger):
    name = "golang"
    reads_binaries = True

    def wants(self, entry: FileEntry) -> bool:
        return entry.executable and not entry.is_symlink and entry.size >= _MIN_BINARY

    def catalog(self, entry: FileEntry, content: BinaryIO, *, limits: ScanLimits) -> FileFindings:
        head = content.read(4)
        if head != ELF_MAGIC:
            return FileFindings()
        data = read_all(content, size=entry.size, limit=limits.max_binary_bytes, prefix=head)
        try:
            info = read_build_info(data)
        except (ValueError, ElfError, struct.error) as exc:
            return FileFindings(warnings=(f"Go build info is malformed ({exc})",))
        if info is None:
            return FileFindings()
        packages = parse_module_text(info.modules, path=entry.path)
        if info.go_version.startswith("go"):
            packages.append(FoundPackage(name="stdlib", version=info.go_version, type=PackageType.GOLANG,
                                         path=entry.path))
        return FileFindings(packages=tuple(packages))
