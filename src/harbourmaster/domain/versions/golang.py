"""Go module versions, including pseudo-versions."""

from __future__ import annotations

import re
from typing import ClassVar

from harbourmaster.domain.versions._semver import SemverKey, SemverSyntaxError, semver_key
from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["GoVersionScheme", "is_pseudo_version"]

_PSEUDO = re.compile(
    r"v?[0-9]+\.[0-9]+\.[0-9]+-(?:[0-9A-Za-z.-]+\.)?(?:0\.)?[0-9]{14}-[0-9a-f]{12}(?:\+[0-9A-Za-z.-]+)?"
)


def is_pseudo_version(version: str) -> bool:
    """Whether ``version`` has the shape of a Go pseudo-version (a commit, not a tag).  Never raises."""
    return _PSEUDO.fullmatch(version) is not None


class GoVersionScheme(VersionScheme):
    """Go module versions, compared as ``golang.org/x/mod/semver`` does.

    The ``v`` prefix is optional (OSV's Go records omit it).  ``v1`` and
    ``v1.2`` are shorthands for ``v1.0.0`` and ``v1.2.0``.  ``+incompatible``
    is build metadata and so ignored.  Pseudo-versions
    (``v0.0.0-20191109021931-daa7c04131f5``, ``v1.2.4-0.2019...``,
    ``v1.2.3-pre.0.2019...``) are pre-releases whose timestamp identifiers
    order them chronologically, which is what Go intends.
    """

    name: ClassVar[str] = "Go"
    semver_compatible: ClassVar[bool] = True

    def _key(self, text: str) -> SemverKey:
        has_prefix = text.startswith("v")
        body = text[1:] if has_prefix else text
        try:
            return semver_key(body, allow_short=has_prefix)
        except SemverSyntaxError as exc:
            raise self.invalid(text, str(exc)) from None
