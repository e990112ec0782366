"""RubyGems versions, ordered as ``Gem::Version#<=>`` orders them.

A version is numbers and letter runs separated by dots (``1.2.0.rc1``); a
``-`` means ``.pre.``.  Any letter makes a pre-release.  Trailing zeros of the
release part and of the pre-release part are dropped, then segments compare
one by one, a missing segment counting as 0; letters are older than numbers.
So ``1.0.a < 1.0.b1 < 1.0 = 1.0.0 < 1.0.1``.
"""

from __future__ import annotations

import re
from typing import ClassVar

from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["GemVersionScheme"]

_PATTERN = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_SEGMENTS = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)

# A segment's key: (0, word) for letters, (1, number, tail) for numbers.  For a
# zero that is followed by more segments, ``tail`` is +1/-1 as what follows is
# newer/older than endless zeros, so plain tuple comparison can stop at the end
# of the shorter version; the end itself is (1, 0, 0).
_Segment = tuple[int, str] | tuple[int, int, int]
_END: _Segment = (1, 0, 0)


def _strip_zeros(segments: list[int | str]) -> list[int | str]:
    while segments and segments[-1] == 0:
        segments.pop()
    return segments


class GemVersionScheme(VersionScheme):
    """RubyGems versions (``Gem::Version``); surrounding white space is ignored."""

    name: ClassVar[str] = "RubyGems"

    def _key(self, text: str) -> tuple[_Segment, ...]:
        version = text.strip()
        if not version:
            raise self.invalid(text, "the version is empty")
        if not _PATTERN.fullmatch(version):
            raise self.invalid(text, "it is not a RubyGems version (digits, then dot-separated words)")
        version = version.replace("-", ".pre.")
        segments: list[int | str] = [
            int(s) if s.isdigit() else s for s in _SEGMENTS.findall(version)
        ]
        first_word = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
        canonical = _strip_zeros(segments[:first_word]) + _strip_zeros(segments[first_word:])
        keys: list[_Segment] = []
        tail = 0
        for segment in reversed(canonical):
            if isinstance(segment, str):
                keys.append((0, segment))
                tail = -1
            else:
                keys.append((1, segment, 0 if segment else tail))
                if segment:
                    tail = 1
        keys.reverse()
        keys.append(_END)
        return tuple(keys)
