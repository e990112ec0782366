"""npm package versions: semantic versioning as the npm ``semver`` package parses it."""

from __future__ import annotations

from typing import ClassVar

from harbourmaster.domain.versions._semver import SemverKey, SemverSyntaxError, semver_key
from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["NpmVersionScheme"]

_LOOSE_PREFIX = "v= \t\n\r\f\v"
_JS_MAX_SAFE_INTEGER = 2**53 - 1


class NpmVersionScheme(VersionScheme):
    """npm package versions, compared as the npm ``semver`` package's ``compare`` does.

    Accepted: strict semver after surrounding white space and any leading run
    of ``v``, ``=`` and spaces (what node-semver's loose mode strips, e.g.
    ``v1.2.3``, ``=1.2.3``).  Rejected, as in npm's strict mode: leading zeros
    (``01.2.3``), pre-releases without ``-`` (``1.2.3beta``), numbers above
    2**53-1 and versions longer than 256 characters.
    """

    name: ClassVar[str] = "npm"
    semver_compatible: ClassVar[bool] = True

    def _key(self, text: str) -> SemverKey:
        body = text.strip().lstrip(_LOOSE_PREFIX)
        try:
            return semver_key(body, max_number=_JS_MAX_SAFE_INTEGER)
        except SemverSyntaxError as exc:
            raise self.invalid(text, str(exc)) from None
