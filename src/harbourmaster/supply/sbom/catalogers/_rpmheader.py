"""The RPM header structure (as stored in an rpmdb): index entries followed by a data store.

Layout, from the RPM file-format specification: a 4-byte big-endian count of
index entries, a 4-byte length of the data store, then 16 bytes per entry
(tag, type, offset into the store, count), then the store itself.  Packages in
an rpmdb are stored without the 8-byte header magic that .rpm files carry.
"""

from __future__ import annotations

import struct

__all__ = ["TAGS", "RpmHeaderError", "parse_header"]

TAGS = {"NAME": 1000, "VERSION": 1001, "RELEASE": 1002, "EPOCH": 1003, "LICENSE": 1014,
        "ARCH": 1022, "SOURCERPM": 1044}
_WANTED = {v: k for k, v in TAGS.items()}
_HEADER_MAGIC = b"\x8e\xad\xe8\x01\x00\x00\x00\x00"
_MAX_ENTRIES = 0xFFFF
_MAX_STORE = 256 * 1024 * 1024
TYPE_CHAR, TYPE_INT8, TYPE_INT16, TYPE_INT32, TYPE_INT64 = 1, 2, 3, 4, 5
TYPE_STRING, TYPE_BIN, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 6, 7, 8, 9
_INT_SIZES = {TYPE_CHAR: 1, TYPE_INT8: 1, TYPE_INT16: 2, TYPE_INT32: 4, TYPE_INT64: 8}


class RpmHeaderError(ValueError):
    """A header blob that does not follow the documented structure."""


def _string(store: bytes, offset: int) -> str:
    end = store.find(b"\0", offset)
    if end < 0:
        raise RpmHeaderError(f"unterminated string at store offset {offset}")
    return store[offset:end].decode("utf-8", errors="replace")


def parse_header(blob: bytes) -> dict[str, str | int]:
    """The NAME, VERSION, RELEASE, EPOCH, LICENSE, ARCH and SOURCERPM tags present in ``blob``.

    Raises :class:`RpmHeaderError` when counts, offsets or types are out of bounds.
    """
    if blob.startswith(_HEADER_MAGIC):
        blob = blob[len(_HEADER_MAGIC):]
    if len(blob) < 8:
        raise RpmHeaderError("header shorter than its 8-byte preamble")
    entries, store_len = struct.unpack_from(">II", blob, 0)
    if entries > _MAX_ENTRIES or store_len > _MAX_STORE:
        raise RpmHeaderError(f"implausible header: {entries} entries, {store_len}-byte store")
    store_start = 8 + 16 * entries
    if store_start + store_len > len(blob):
        raise RpmHeaderError(f"header claims {store_start + store_len} bytes but has {len(blob)}")
    store = blob[store_start:store_start + store_len]
    out: dict[str, str | int] = {}
    for i in range(entries):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, 8 + 16 * i)
        name = _WANTED.get(tag)
        if name is None:
            continue
        if offset < 0 or offset >= store_len or count == 0:
            raise RpmHeaderError(f"tag {tag}: offset {offset} outside the {store_len}-byte store")
        if kind in (TYPE_STRING, TYPE_I18NSTRING, TYPE_STRING_ARRAY):
            out[name] = _string(store, offset)  # the first string of an array/i18n table
        elif kind in _INT_SIZES:
            size = _INT_SIZES[kind]
            if offset + size > store_len:
                raise RpmHeaderError(f"tag {tag}: integer past the end of the store")
            out[name] = int.from_bytes(store[offset:offset + size], "big")
        else:
            raise RpmHeaderError(f"tag {tag}: unexpected type {kind}")
    return out
