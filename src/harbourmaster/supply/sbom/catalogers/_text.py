"""Shared reading helpers for catalogers: bounded text, RFC 822-style stanzas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO


def read_text(content: BinaryIO, *, limit: int) -> str:
    """At most ``limit`` bytes of ``content`` decoded as UTF-8 (undecodable bytes replaced)."""
    return content.read(limit).decode("utf-8", errors="replace")


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
