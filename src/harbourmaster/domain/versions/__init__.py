"""Version comparison for every ecosystem harbourmaster scans.

Call :func:`scheme_for` with an OSV ecosystem name or a purl type, then use the
scheme's :meth:`~VersionScheme.compare` or :meth:`~VersionScheme.sort_key`.
"""

from __future__ import annotations

from harbourmaster.domain.versions.apk import ApkVersionScheme
from harbourmaster.domain.versions.dpkg import DpkgVersionScheme
from harbourmaster.domain.versions.ecosystems import SEMVER, known_ecosystems, scheme_for
from harbourmaster.domain.versions.gems import GemVersionScheme
from harbourmaster.domain.versions.golang import GoVersionScheme, is_pseudo_version
from harbourmaster.domain.versions.interface import (
    InvalidVersion,
    SortKey,
    UnknownEcosystem,
    VersionScheme,
)
from harbourmaster.domain.versions.maven import MavenVersion, MavenVersionScheme
from harbourmaster.domain.versions.npm import NpmVersionScheme
from harbourmaster.domain.versions.pypi import PypiVersionScheme
from harbourmaster.domain.versions.rpm import RpmVersionScheme
from harbourmaster.domain.versions.semver import SemverVersionScheme

__all__ = [
    "SEMVER",
    "ApkVersionScheme",
    "DpkgVersionScheme",
    "GemVersionScheme",
    "GoVersionScheme",
    "InvalidVersion",
    "MavenVersion",
    "MavenVersionScheme",
    "NpmVersionScheme",
    "PypiVersionScheme",
    "RpmVersionScheme",
    "SemverVersionScheme",
    "SortKey",
    "UnknownEcosystem",
    "VersionScheme",
    "is_pseudo_version",
    "known_ecosystems",
    "scheme_for",
]
