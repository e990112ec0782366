"""Just enough ELF to map a virtual address to a file offset (through PT_LOAD program headers)."""

from __future__ import annotations

import struct

__all__ = ["ELF_MAGIC", "ElfError", "virtual_to_offset"]

ELF_MAGIC = b"\x7fELF"
_PT_LOAD = 1


class ElfError(ValueError):
    """The ELF headers are malformed or do not cover an address."""


def virtual_to_offset(data: bytes | bytearray, address: int) -> int:
    """The file offset holding virtual ``address``; raises :class:`ElfError` when none does."""
    if not data.startswith(ELF_MAGIC) or len(data) < 64:
        raise ElfError("not an ELF file")
    is64 = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if is64:
        phoff, = struct.unpack_from(order + "Q", data, 0x20)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x36)
    else:
        phoff, = struct.unpack_from(order + "I", data, 0x1C)
        phentsize, phnum = struct.unpack_from(order + "HH", data, 0x2A)
    for i in range(min(phnum, 4096)):
        at = phoff + i * phentsize
        if at + (56 if is64 else 32) > len(data):
            raise ElfError("program header table past the end of the file")
        if is64:
            p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(
                order + "IIQQQQ", data, at)
        else:
            p_type, p_offset, p_vaddr, _paddr, p_filesz = struct.unpack_from(order + "IIIII", data, at)
        if p_type == _PT_LOAD and p_vaddr <= address < p_vaddr + p_filesz:
            return int(p_offset + (address - p_vaddr))
    raise ElfError(f"no loaded segment holds address {address:#x}")
