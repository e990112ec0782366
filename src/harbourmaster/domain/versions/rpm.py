"""RPM versions (``[epoch:]version[-release]``), ordered as ``rpmvercmp`` orders them.

Each of version and release is split into runs of ASCII digits and runs of
ASCII letters; every other character only separates runs.  Digit runs compare
numerically and beat letter runs; letter runs compare as strings.  ``~`` sorts
before anything, even the end of the string (pre-releases: ``1.0~rc1 < 1.0``);
``^`` sorts after the end of the string but before any further run
(snapshots: ``1.0 < 1.0^git1 < 1.0.1``).
"""

from __future__ import annotations

import re
from typing import ClassVar

from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["RpmVersionScheme"]

_TOKENS = re.compile(r"[0-9]+|[A-Za-z]+|~|\^")

# Token weights at one position: tilde < end < caret < letters < digits.
_TILDE = (0,)
_END = (1,)
_CARET = (2,)

_Token = tuple[int] | tuple[int, str] | tuple[int, int]


def _vercmp_key(text: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    for run in _TOKENS.findall(text):
        if run == "~":
            tokens.append(_TILDE)
        elif run == "^":
            tokens.append(_CARET)
        elif run[0].isdigit():
            tokens.append((4, int(run)))
        else:
            tokens.append((3, run))
    tokens.append(_END)
    return tuple(tokens)


class RpmVersionScheme(VersionScheme):
    """Red Hat, AlmaLinux, Rocky Linux, SUSE, ... package versions (``rpmvercmp``).

    A missing epoch is 0.  A missing release sorts before every release, as
    ``rpm.vercmp`` sorts it (``1.0 < 1.0-~1 < 1.0-1``).
    """

    name: ClassVar[str] = "rpm"

    def _key(self, text: str) -> tuple[int, tuple[_Token, ...], tuple[_Token, ...]]:
        if not text:
            raise self.invalid(text, "the version is empty")
        if any(c.isspace() or not c.isprintable() for c in text):
            raise self.invalid(text, "the version contains white space or control characters")
        epoch = 0
        rest = text
        if ":" in text:
            epoch_text, rest = text.split(":", 1)
            if not (epoch_text.isascii() and epoch_text.isdigit()):
                raise self.invalid(text, "the epoch before ':' must be a non-negative number")
            epoch = int(epoch_text)
        version, _, release = rest.rpartition("-") if "-" in rest else (rest, "", "")
        if not version:
            raise self.invalid(text, "the version part is empty")
        if "-" in rest and not release:
            raise self.invalid(text, "the release after the last '-' is empty")
        if ":" in version or ":" in release:
            raise self.invalid(text, "only one ':' (after the epoch) is allowed")
        return (epoch, _vercmp_key(version), _vercmp_key(release) if "-" in rest else ())
