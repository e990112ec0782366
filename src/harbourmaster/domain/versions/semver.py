"""Strict semantic versioning, used for OSV ``SEMVER`` ranges.

Precedence is SemVer 2.0.0's: MAJOR.MINOR.PATCH numerically, a pre-release is
older than its release, pre-release identifiers compare one by one (numbers
numerically and older than words, words in ASCII order, fewer identifiers
older), build metadata is ignored.
"""

from __future__ import annotations

from typing import ClassVar

from harbourmaster.domain.versions._semver import SemverKey, SemverSyntaxError, semver_key
from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["SemverVersionScheme"]


class SemverVersionScheme(VersionScheme):
    """Strict SemVer 2.0.0 (OSV ``SEMVER`` ranges, crates.io, ...); a single leading ``v`` is tolerated."""

    name: ClassVar[str] = "semver"
    semver_compatible: ClassVar[bool] = True

    def _key(self, text: str) -> SemverKey:
        body = text[1:] if text.startswith("v") else text
        try:
            return semver_key(body)
        except SemverSyntaxError as exc:
            raise self.invalid(text, str(exc)) from None
