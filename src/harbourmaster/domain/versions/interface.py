"""The one interface every ecosystem's version comparison implements.

A :class:`VersionScheme` turns a version string into a *sort key*: a value whose
ordinary ``<``/``==`` comparisons give the ecosystem's ordering.  Keys are
plain tuples wherever the ecosystem's ordering allows it (dpkg, apk, rpm,
semver, RubyGems), so comparing two parsed versions in a hot path is one C-level
tuple comparison.  Parsing is cached per scheme.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any, ClassVar, Protocol

from harbourmaster.errors import BadInput

__all__ = ["InvalidVersion", "SortKey", "UnknownEcosystem", "VersionScheme"]

#: Longest version string any scheme accepts; longer input is rejected, not parsed.
MAX_VERSION_LENGTH = 256


class SortKey(Protocol):
    """What :meth:`VersionScheme.sort_key` returns: totally comparable with keys of the same scheme."""

    def __lt__(self, other: Any, /) -> bool: ...


class InvalidVersion(BadInput):
    """A version string is not valid in the ecosystem it was given for."""

    def __init__(self, *, version: str, scheme: str, reason: str) -> None:
        shown = version if len(version) <= 80 else version[:77] + "..."
        super().__init__(f"invalid {scheme} version {shown!r}: {reason}")
        self.version = version
        self.scheme = scheme
        self.reason = reason


class UnknownEcosystem(BadInput):
    """No version scheme is known for an ecosystem name or purl type."""

    def __init__(self, ecosystem: str) -> None:
        super().__init__(
            f"no version comparison is known for ecosystem {ecosystem!r}",
            details=["use an OSV ecosystem name (e.g. 'Debian:12', 'PyPI') or a purl type (e.g. 'deb')"],
        )
        self.ecosystem = ecosystem


class VersionScheme(ABC):
    """An ecosystem's version syntax and ordering.

    Subclasses implement :meth:`_key` (parse one string into a sort key, raising
    :class:`InvalidVersion`).  Everything else is derived from it.
    """

    #: Short name used in messages, e.g. ``"dpkg"``.
    name: ClassVar[str]
    #: True when the scheme is semantic versioning, so OSV ``SEMVER`` ranges may use it directly.
    semver_compatible: ClassVar[bool] = False
    _CACHE_SIZE: ClassVar[int] = 65_536

    def __init__(self) -> None:
        self._cache: OrderedDict[str, SortKey] = OrderedDict()

    @abstractmethod
    def _key(self, text: str) -> SortKey:
        """Parse ``text`` (already length-checked) into a sort key; raise InvalidVersion when invalid."""

    def parse(self, text: str) -> SortKey:
        """The parsed form of ``text``; the same value as :meth:`sort_key`.

        Raises:
            InvalidVersion: ``text`` is not a valid version of this scheme.
        """
        return self.sort_key(text)

    def sort_key(self, text: str) -> SortKey:
        """A key such that ``sort_key(a) < sort_key(b)`` exactly when ``a`` is older than ``b``.

        Raises:
            InvalidVersion: ``text`` is not a valid version of this scheme.
        """
        cache = self._cache
        key = cache.get(text)
        if key is not None:
            return key
        if not isinstance(text, str):
            raise InvalidVersion(version=repr(text), scheme=self.name, reason="a version must be a string")
        if len(text) > MAX_VERSION_LENGTH:
            raise self.invalid(text, f"longer than {MAX_VERSION_LENGTH} characters")
        key = self._key(text)
        cache[text] = key
        if len(cache) > self._CACHE_SIZE:
            cache.popitem(last=False)
        return key

    def compare(self, a: str, b: str) -> int:
        """-1, 0 or 1 as ``a`` is older than, equal to, or newer than ``b``.

        Raises:
            InvalidVersion: either string is not a valid version of this scheme.
        """
        ka, kb = self.sort_key(a), self.sort_key(b)
        if ka < kb:
            return -1
        if kb < ka:
            return 1
        return 0

    def is_valid(self, text: str) -> bool:
        """Whether ``text`` parses in this scheme.  Never raises."""
        try:
            self.sort_key(text)
        except InvalidVersion:
            return False
        return True

    def invalid(self, text: str, reason: str) -> InvalidVersion:
        """The error to raise for ``text``; for use by implementations."""
        return InvalidVersion(version=text, scheme=self.name, reason=reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
