"""Debian package versions (Debian Policy 5.6.12), as ``dpkg`` compares them.

``[epoch:]upstream_version[-debian_revision]``: the epoch is compared as a
number; the upstream version and the revision are each compared by splitting
them into alternating non-digit and digit runs.  Non-digit runs compare
character by character where ``~`` sorts before everything (even the end of
the string), letters before other characters; digit runs compare numerically.
"""

from __future__ import annotations

import re
from typing import ClassVar

from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["DpkgVersionScheme"]

_EPOCH_MAX = 2**31 - 1
_UPSTREAM_CHARS = re.compile(r"[A-Za-z0-9.+~:-]+")
_REVISION_CHARS = re.compile(r"[A-Za-z0-9.+~]+")
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")

# One (non-digit run, number) pair; the non-digit run is a tuple of character
# weights ending in 0, the weight of "end of run".
_Part = tuple[tuple[int, ...], int]
_END: _Part = ((0,), 0)


def _weight(char: str) -> int:
    if char == "~":
        return -1
    if char.isalpha():
        return ord(char)
    return ord(char) + 256


def _part_key(text: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    position = 0
    while position < len(text):
        match = _RUNS.match(text, position)
        assert match is not None  # the pattern matches the empty string
        letters, digits = match.group(1), match.group(2)
        parts.append(((*(_weight(c) for c in letters), 0), int(digits) if digits else 0))
        position = match.end()
    # A string that has ended behaves as an endless run of ("", 0) pairs.  Only
    # the first pair can equal that, so dropping trailing ones and appending two
    # makes plain tuple comparison agree with dpkg's loop.
    while parts and parts[-1] == _END:
        parts.pop()
    return (*parts, _END, _END)


class DpkgVersionScheme(VersionScheme):
    """Debian / Ubuntu package versions, ordered as ``dpkg --compare-versions`` orders them.

    Surrounding white space is ignored, as dpkg ignores it.  Versions dpkg only
    warns about are rejected when they contain characters the policy forbids;
    an upstream version not starting with a digit is accepted (dpkg accepts it).
    """

    name: ClassVar[str] = "dpkg"

    def _key(self, text: str) -> tuple[int, tuple[_Part, ...], tuple[_Part, ...]]:
        version = text.strip()
        if not version:
            raise self.invalid(text, "the version is empty")
        if any(c.isspace() for c in version):
            raise self.invalid(text, "the version contains white space")
        epoch = 0
        if ":" in version:
            epoch_text, version = version.split(":", 1)
            if not epoch_text:
                raise self.invalid(text, "the epoch before ':' is empty")
            if not epoch_text.isascii() or not epoch_text.isdigit():
                raise self.invalid(text, "the epoch must be a non-negative number")
            epoch = int(epoch_text)
            if epoch > _EPOCH_MAX:
                raise self.invalid(text, "the epoch is too big")
            if not version:
                raise self.invalid(text, "nothing follows the epoch's ':'")
        revision = ""
        if "-" in version:
            version, revision = version.rsplit("-", 1)
            if not revision:
                raise self.invalid(text, "the revision after the last '-' is empty")
            if not _REVISION_CHARS.fullmatch(revision):
                raise self.invalid(text, "the revision may contain only letters, digits and '+.~'")
        if not version:
            raise self.invalid(text, "the upstream version is empty")
        if not _UPSTREAM_CHARS.fullmatch(version):
            raise self.invalid(text, "the upstream version may contain only letters, digits and '.+~-:'")
        return (epoch, _part_key(version), _part_key(revision))
