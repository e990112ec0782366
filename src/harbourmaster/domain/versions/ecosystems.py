"""Which version scheme an OSV ecosystem name or a purl type uses."""

from __future__ import annotations

from harbourmaster.domain.versions.apk import ApkVersionScheme
from harbourmaster.domain.versions.dpkg import DpkgVersionScheme
from harbourmaster.domain.versions.gems import GemVersionScheme
from harbourmaster.domain.versions.golang import GoVersionScheme
from harbourmaster.domain.versions.interface import UnknownEcosystem, VersionScheme
from harbourmaster.domain.versions.maven import MavenVersionScheme
from harbourmaster.domain.versions.npm import NpmVersionScheme
from harbourmaster.domain.versions.pypi import PypiVersionScheme
from harbourmaster.domain.versions.rpm import RpmVersionScheme
from harbourmaster.domain.versions.semver import SemverVersionScheme

__all__ = ["SEMVER", "known_ecosystems", "scheme_for"]

_DPKG = DpkgVersionScheme()
_APK = ApkVersionScheme()
_RPM = RpmVersionScheme()
_PYPI = PypiVersionScheme()
_NPM = NpmVersionScheme()
_GO = GoVersionScheme()
_MAVEN = MavenVersionScheme()
_GEMS = GemVersionScheme()
#: The scheme of OSV ``SEMVER`` ranges (and of ecosystems that are plain semver).
SEMVER: VersionScheme = SemverVersionScheme()

# OSV ecosystem names (the part before any ":release" suffix), lower-cased.
_BY_ECOSYSTEM: dict[str, VersionScheme] = {
    "debian": _DPKG,
    "ubuntu": _DPKG,
    "alpine": _APK,
    "wolfi": _APK,
    "chainguard": _APK,
    "red hat": _RPM,
    "almalinux": _RPM,
    "rocky linux": _RPM,
    "suse": _RPM,
    "opensuse": _RPM,
    "mageia": _RPM,
    "openeuler": _RPM,
    "photon os": _RPM,
    "azure linux": _RPM,
    "pypi": _PYPI,
    "npm": _NPM,
    "go": _GO,
    "maven": _MAVEN,
    "rubygems": _GEMS,
    "crates.io": SEMVER,
}

# purl types (https://github.com/package-url/purl-spec), lower-cased.
_BY_PURL_TYPE: dict[str, VersionScheme] = {
    "deb": _DPKG,
    "apk": _APK,
    "rpm": _RPM,
    "pypi": _PYPI,
    "npm": _NPM,
    "golang": _GO,
    "maven": _MAVEN,
    "gem": _GEMS,
    "cargo": SEMVER,
}


def scheme_for(ecosystem: str) -> VersionScheme:
    """The version scheme for an OSV ecosystem (``"Debian:12"``, ``"Ubuntu:22.04:LTS"``,
    ``"Alpine:v3.19"``, ``"PyPI"``, ...) or a purl type (``"deb"``, ``"golang"``, ...).

    Matching is case-insensitive and ignores everything from the first ``:``
    (the release).  Schemes are shared, stateless apart from a parse cache.

    Raises:
        UnknownEcosystem: neither an OSV ecosystem nor a purl type that is known.
    """
    name = ecosystem.split(":", 1)[0].strip().lower()
    scheme = _BY_ECOSYSTEM.get(name) or _BY_PURL_TYPE.get(name)
    if scheme is None:
        raise UnknownEcosystem(ecosystem)
    return scheme


def known_ecosystems() -> tuple[str, ...]:
    """The OSV ecosystem names and purl types :func:`scheme_for` knows (lower-cased).  Never raises."""
    return tuple(sorted(set(_BY_ECOSYSTEM) | set(_BY_PURL_TYPE)))
