"""Alpine package versions, ordered as apk-tools (2.14, Alpine 3.19+) orders them.

Syntax: ``digits{.digits}...{letter}{_suffix{digits}}...{-rN}``, where the
suffixes are the pre-releases ``_alpha < _beta < _pre < _rc`` (older than no
suffix) and the post-releases ``_cvs < _svn < _git < _hg < _p`` (newer).

apk compares token by token.  A numeric component after a ``.`` that starts
with ``0`` on either side is compared as text (``1.02 < 1.1``, a fraction).
When two versions agree on every token so far, the kind of the next token
decides: a pre-release suffix is oldest, then the end of the version, then
``-rN``, a suffix number, a post-release suffix, a letter, and finally another
numeric component (``1.2_rc1 < 1.2 < 1.2-r1 < 1.2_p1 < 1.2a < 1.2.1``).
"""

from __future__ import annotations

import re
from typing import ClassVar

from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["ApkVersionScheme"]

_SUFFIXES = {"alpha": 1, "beta": 2, "pre": 3, "rc": 4, "cvs": 6, "svn": 7, "git": 8, "hg": 9, "p": 10}
_NO_SUFFIX = 5

# Token kinds in apk's order; each may only be followed by certain others.
_INITIAL_DIGIT, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _REVISION_NO, _END = range(7)
# Rank of a token kind where two versions first differ in kind: a later kind
# means an older version, and a pre-release suffix is the oldest of all.
_PRE_SUFFIX_RANK = -8

_DIGITS = re.compile(r"[0-9]*")
_LETTERS = re.compile(r"[a-z]*")

_Token = tuple[int, int] | tuple[int, tuple[int, int, str]] | tuple[int]


class _Invalid(Exception):
    pass


def _digit_value(digits: str) -> tuple[int, int, str]:
    # Components with a leading zero compare as text and sort before the others.
    if digits.startswith("0"):
        return (0, 0, digits)
    return (1, int(digits), "")


def _tokens(text: str) -> tuple[_Token, ...]:
    first = _DIGITS.match(text)
    assert first is not None
    if not first.group():
        raise _Invalid("it must start with a digit")
    tokens: list[_Token] = [(-_INITIAL_DIGIT, int(first.group()))]
    kind, pos = _INITIAL_DIGIT, first.end()
    while pos < len(text):
        char = text[pos]
        if "a" <= char <= "z" and kind <= _DIGIT:
            kind, pos = _LETTER, pos + 1
            tokens.append((-_LETTER, ord(char)))
        elif char == "." and kind <= _DIGIT:
            digits = _DIGITS.match(text, pos + 1)
            assert digits is not None
            if not digits.group():
                raise _Invalid(f"a number must follow the '.' at position {pos + 1}")
            kind, pos = _DIGIT, digits.end()
            tokens.append((-_DIGIT, _digit_value(digits.group())))
        elif char.isdigit() and kind == _SUFFIX:
            digits = _DIGITS.match(text, pos)
            assert digits is not None
            kind, pos = _SUFFIX_NO, digits.end()
            tokens.append((-_SUFFIX_NO, int(digits.group())))
        elif char == "_" and kind <= _SUFFIX_NO:
            word = _LETTERS.match(text, pos + 1)
            assert word is not None
            suffix = _SUFFIXES.get(word.group())
            if suffix is None:
                raise _Invalid(f"unknown suffix {'_' + word.group()!r} at position {pos + 1}")
            kind, pos = _SUFFIX, word.end()
            tokens.append((_PRE_SUFFIX_RANK if suffix < _NO_SUFFIX else -_SUFFIX, suffix))
        elif char == "-" and kind < _REVISION_NO and text.startswith("-r", pos):
            digits = _DIGITS.match(text, pos + 2)
            assert digits is not None
            kind, pos = _REVISION_NO, digits.end()
            tokens.append((-_REVISION_NO, int(digits.group() or "0")))
        else:
            raise _Invalid(f"unexpected {char!r} at position {pos + 1}")
    tokens.append((-_END,))
    return tuple(tokens)


class ApkVersionScheme(VersionScheme):
    """Alpine (and Wolfi/Chainguard) package versions, with apk-tools' ordering."""

    name: ClassVar[str] = "apk"

    def _key(self, text: str) -> tuple[_Token, ...]:
        try:
            return _tokens(text)
        except _Invalid as exc:
            raise self.invalid(text, str(exc)) from None
