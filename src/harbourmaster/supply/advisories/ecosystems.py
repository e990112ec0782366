"""Ecosystem names: from a component's purl (type, namespace, ``distro=`` qualifier) to the OSV ecosystem.

Both sides are reduced to one *ecosystem key* (lower case), so that an
advisory for ``"Ubuntu:22.04:LTS"`` and an image whose packages carry
``distro=ubuntu-22.04`` meet at ``"ubuntu:22.04"``:

* Debian ``debian-12`` → ``"Debian:12"`` (key ``debian:12``); Ubuntu ``ubuntu-22.04`` → ``"Ubuntu:22.04"``
  (the ``:LTS`` suffix of OSV's names is dropped from keys; ``Ubuntu:Pro:...`` stays distinct, as its
  ESM builds are not in ordinary images);
* Alpine ``alpine-3.19.1`` → ``"Alpine:v3.19"``;
* Red Hat ``redhat-9.3`` → key ``red hat:9`` (OSV's ``Red Hat:enterprise_linux:9::appstream`` and its other
  product streams reduce to the major release), AlmaLinux ``almalinux-9.3`` → ``"AlmaLinux:9"``,
  Rocky ``rocky-9.3`` → ``"Rocky Linux:9"``;
* pypi → PyPI (names PEP 503-normalised), npm (``@scope/name``), golang → Go (the module path),
  maven → Maven (``group:artifact``), gem → RubyGems, cargo → crates.io.
"""

from __future__ import annotations

import functools
import re

from harbourmaster.domain.versions import UnknownEcosystem, scheme_for

__all__ = [
    "component_ecosystem",
    "component_package_name",
    "ecosystem_base",
    "ecosystem_key",
    "is_supported",
    "package_name",
]

_PEP503 = re.compile(r"[-_.]+")
_RED_HAT_MAJOR = re.compile(r"(?:^|[_:])(\d+)(?:[.:]|$)")


def ecosystem_base(key: str) -> str:
    """``"debian:12"`` → ``"debian"``.  Never raises."""
    return key.split(":", 1)[0]


def ecosystem_key(ecosystem: str) -> str:
    """The normalised key of an OSV ecosystem name (see the module docstring).  Never raises."""
    text = ecosystem.strip().lower()
    base, _, release = text.partition(":")
    if base == "ubuntu":
        parts = [p for p in release.split(":") if p]
        if parts and parts[-1] in ("lts",):
            parts = parts[:-1]
        return ":".join(["ubuntu", *parts])
    if base == "red hat":
        match = _RED_HAT_MAJOR.search(release)
        return f"red hat:{match.group(1)}" if match else "red hat"
    if base in ("almalinux", "rocky linux") and release:
        return f"{base}:{release.split('.', 1)[0]}"
    return text


def is_supported(ecosystem: str) -> bool:
    """Whether harbourmaster can compare versions in ``ecosystem``.  Never raises."""
    try:
        scheme_for(ecosystem)
    except UnknownEcosystem:
        return False
    return True


def package_name(ecosystem: str, name: str) -> str:
    """The name as it is indexed: PEP 503 for PyPI, unchanged elsewhere.  Never raises."""
    if ecosystem_base(ecosystem.strip().lower()) == "pypi":
        return _PEP503.sub("-", name).lower()
    return name


def _split_distro(distro: str | None) -> tuple[str, str]:
    if not distro:
        return "", ""
    ident, _, version = distro.partition("-")
    return ident.lower(), version


@functools.lru_cache(maxsize=4096)
def component_ecosystem(
    purl_type: str, *, namespace: str | None = None, distro: str | None = None
) -> tuple[str, str] | None:
    """``(OSV ecosystem name, ecosystem key)`` for a component, or None when no OSV ecosystem fits
    (an OS package without a known release, or an unknown purl type).  Never raises.
    """
    kind = purl_type.lower()
    ident, version = _split_distro(distro)
    if kind == "deb":
        ident = ident or (namespace or "").lower()
        if ident == "debian" and version:
            major = version.split(".", 1)[0]
            return f"Debian:{major}", f"debian:{major}"
        if ident == "ubuntu" and version:
            return f"Ubuntu:{version}", f"ubuntu:{version}"
        return None
    if kind == "apk":
        ident = ident or (namespace or "").lower()
        if ident == "alpine" and version:
            minor = ".".join(version.split(".")[:2])
            return f"Alpine:v{minor}", f"alpine:v{minor}"
        if ident in ("wolfi", "chainguard"):
            name = "Wolfi" if ident == "wolfi" else "Chainguard"
            return name, ident
        return None
    if kind == "rpm":
        major = version.split(".", 1)[0] if version else ""
        if not major:
            return None
        if ident in ("rhel", "redhat") or (not ident and namespace == "redhat"):
            return f"Red Hat:enterprise_linux:{major}", f"red hat:{major}"
        if ident == "almalinux":
            return f"AlmaLinux:{major}", f"almalinux:{major}"
        if ident in ("rocky", "rocky linux"):
            return f"Rocky Linux:{major}", f"rocky linux:{major}"
        return None
    named = {
        "pypi": "PyPI",
        "npm": "npm",
        "golang": "Go",
        "maven": "Maven",
        "gem": "RubyGems",
        "cargo": "crates.io",
    }.get(kind)
    if named is None:
        return None
    return named, named.lower()


def component_package_name(purl_type: str, *, namespace: str | None, name: str) -> str:
    """The package name an OSV record uses for a purl's namespace and name: ``@scope/name`` (npm),
    the module path (Go), ``group:artifact`` (Maven), PEP 503 (PyPI), the name elsewhere.  Never raises.
    """
    kind = purl_type.lower()
    if kind == "pypi":
        return _PEP503.sub("-", name).lower()
    if kind in ("npm", "golang") and namespace:
        return f"{namespace}/{name}"
    if kind == "maven" and namespace:
        return f"{namespace}:{name}"
    return name
