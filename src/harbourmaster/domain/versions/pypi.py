"""Python package versions (PEP 440), through the ``packaging`` library, the reference implementation."""

from __future__ import annotations

from typing import ClassVar

from packaging.version import InvalidVersion as _PackagingInvalidVersion
from packaging.version import Version

from harbourmaster.domain.versions.interface import VersionScheme

__all__ = ["PypiVersionScheme"]


class PypiVersionScheme(VersionScheme):
    """PEP 440 versions, ordered by :class:`packaging.version.Version`.

    There is no fallback for pre-PEP 440 ("legacy") versions: they raise
    :class:`InvalidVersion`, and callers decide (OSV range evaluation matches
    such versions only through a record's explicit ``versions`` list).
    """

    name: ClassVar[str] = "PyPI"

    def _key(self, text: str) -> Version:
        try:
            return Version(text)
        except _PackagingInvalidVersion:
            raise self.invalid(text, "it is not a PEP 440 version") from None
