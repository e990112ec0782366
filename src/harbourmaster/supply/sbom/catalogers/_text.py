"""Shared reading helpers for catalogers: bounded text, RFC 822-style stanzas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

_READ_CHUNK = 1024 * 1024


def read_text(content: BinaryIO, *, limit: int) -> str:
    """At most ``limit`` bytes of ``content`` decoded as UTF-8 (undecodable bytes replaced).

    Read chunk by chunk: a stream's ``read(limit)`` may allocate the whole limit
    up front, which would make every cataloged file cost the cap in memory.
    """
    parts: list[bytes] = []
    total = 0
    while total < limit:
        chunk = content.read(min(_READ_CHUNK, limit - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return b"".join(parts).decode("utf-8", errors="replace")


def read_all(content: BinaryIO, *, size: int, limit: int, prefix: bytes = b"") -> bytearray:
    """At most ``limit`` bytes of a member of ``size`` bytes, in one buffer filled chunk by chunk.

    Reading a large member with one ``read()`` makes several whole-size copies on
    the way (tarfile joins its blocks, then ``bytes`` concatenation); this keeps
    one, so a binary costs its size in memory and no more.
    """
    total = min(size, limit)
    buffer = bytearray(total)
    view = memoryview(buffer)
    view[: len(prefix)] = prefix
    position = len(prefix)
    while position < total:
        chunk = content.read(min(_READ_CHUNK, total - position))
        if not chunk:
            break
        view[position:position + len(chunk)] = chunk
        position += len(chunk)
    view.release()
    del buffer[position:]
    return buffer


def stanzas(text: str, *, separator: str = ":") -> Iterator[dict[str, str]]:
    """Blank-line separated blocks of ``Key: value`` lines; continuation lines are folded in.

    Used for dpkg's status file (``Key: value``) and apk's installed database (``K:value``).
    """
    fields: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
            continue
        if line[0] in " \t":
            if last:
                fields[last] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(separator)
        if not sep:
            continue
        last = key.strip()
        fields[last] = value.strip()
    if fields:
        yield fields
