"""Semantic Versioning 2.0.0 precedence, shared by the npm, Go and generic SEMVER schemes."""

from __future__ import annotations

import re

__all__ = ["SemverKey", "semver_key"]

_CORE = re.compile(
    r"(?P<major>0|[1-9][0-9]*)"
    r"(?:\.(?P<minor>0|[1-9][0-9]*)"
    r"(?:\.(?P<patch>0|[1-9][0-9]*))?)?"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+(?P<build>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)

_Identifier = tuple[int, int] | tuple[int, str]
#: (major, minor, patch, pre-release) where a release's pre-release part, (1,),
#: sorts after every pre-release, (0, identifiers...).
SemverKey = tuple[int, int, int, tuple[int] | tuple[int, tuple[_Identifier, ...]]]
_RELEASE: tuple[int] = (1,)


class SemverSyntaxError(ValueError):
    """Why a string is not a semantic version (turned into InvalidVersion by the caller)."""


def semver_key(text: str, *, allow_short: bool = False, max_number: int | None = None) -> SemverKey:
    """Parse ``text`` (without any prefix) into a precedence key.

    ``allow_short`` accepts Go's ``1`` and ``1.2`` shorthands (for ``1.0.0`` and
    ``1.2.0``, without pre-release or build).  ``max_number`` bounds the three
    numbers (npm refuses numbers above JavaScript's safe integers).

    Raises:
        SemverSyntaxError: ``text`` is not a semantic version.
    """
    match = _CORE.fullmatch(text)
    if match is None:
        raise SemverSyntaxError("it is not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (semver 2.0)")
    minor, patch = match.group("minor"), match.group("patch")
    if patch is None:
        if not allow_short:
            raise SemverSyntaxError("it needs all three of MAJOR.MINOR.PATCH")
        if match.group("pre") is not None or match.group("build") is not None:
            raise SemverSyntaxError("a shortened version cannot carry a pre-release or build")
    numbers = (int(match.group("major")), int(minor or 0), int(patch or 0))
    if max_number is not None and max(numbers) > max_number:
        raise SemverSyntaxError(f"a version number is larger than {max_number}")
    pre = match.group("pre")
    if pre is None:
        return (*numbers, _RELEASE)
    identifiers: list[_Identifier] = []
    for identifier in pre.split("."):
        if identifier.isdigit():
            if len(identifier) > 1 and identifier[0] == "0":
                raise SemverSyntaxError(f"numeric pre-release identifier {identifier!r} has a leading zero")
            identifiers.append((0, int(identifier)))
        else:
            identifiers.append((1, identifier))
    return (*numbers, (0, tuple(identifiers)))
