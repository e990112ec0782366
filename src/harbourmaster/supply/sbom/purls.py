"""Package URLs (purl) for found packages, per purl type, built with packageurl-python.

OS packages need the distro (namespace and ``distro=`` qualifier), which is
only known once every layer has been read, so purls are made at the end.
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from harbourmaster.supply.sbom.interface import Distro, FoundPackage, PackageType, Platform

__all__ = ["image_purl", "normalise_pypi_name", "purl_for"]

#: os-release ``ID`` → purl namespace where the two differ.
_RPM_NAMESPACES = {"rhel": "redhat", "amzn": "amazon", "ol": "oracle", "opensuse-leap": "opensuse",
                   "opensuse-tumbleweed": "opensuse", "sles": "suse"}
_DEFAULT_NAMESPACE = {PackageType.DEB: "debian", PackageType.APK: "alpine"}


def normalise_pypi_name(name: str) -> str:
    """PEP 503 normalisation: runs of ``-``, ``_`` and ``.`` become ``-``, lower case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _os_purl(found: FoundPackage, distro: Distro | None) -> PackageURL:
    qualifiers: dict[str, str] = {}
    if found.arch:
        qualifiers["arch"] = found.arch
    if found.epoch and found.type is PackageType.RPM:
        qualifiers["epoch"] = found.epoch
    namespace = _DEFAULT_NAMESPACE.get(found.type, "")
    if distro is not None and distro.id:
        namespace = _RPM_NAMESPACES.get(distro.id, distro.id) if found.type is PackageType.RPM else distro.id
        if distro.version_id:
            qualifiers["distro"] = f"{distro.id}-{distro.version_id}"
        elif distro.version_codename:
            qualifiers["distro"] = f"{distro.id}-{distro.version_codename}"
    if found.source_package and found.source_package != found.name and found.type is PackageType.DEB:
        qualifiers["upstream"] = found.source_package
    return PackageURL(type=found.type.value, namespace=namespace or None, name=found.name,
                      version=found.version or None, qualifiers=qualifiers or None)


def purl_for(found: FoundPackage, distro: Distro | None) -> str:
    """The purl of ``found``; OS package types take their namespace and ``distro=`` from ``distro``."""
    if found.type in (PackageType.DEB, PackageType.APK, PackageType.RPM):
        return str(_os_purl(found, distro).to_string())
    name = found.name
    namespace = found.namespace or None
    if found.type is PackageType.PYPI:
        name = normalise_pypi_name(name)
    elif found.type is PackageType.GOLANG:
        namespace, _, name = found.name.rpartition("/")
        namespace = namespace or None
    return str(PackageURL(type=found.type.value, namespace=namespace, name=name,
                          version=found.version or None).to_string())


def image_purl(*, name: str, digest: str, platform: Platform, repository: str = "", tag: str = "") -> str:
    """``pkg:oci/NAME@DIGEST?arch=...&repository_url=REGISTRY/REPO&tag=TAG`` for the image itself (the
    SBOM's root component), as the purl spec's ``oci`` type has it: the name is the repository's last
    path segment, lower-cased, and ``repository_url`` where the image can be fetched.

    ``repository`` (``registry.example/team/app``) and ``tag`` are given for a registry image; a
    local source's name (``layout:v1``, a docker-archive's ``RepoTags`` entry) is read as a reference
    instead, and ``repository_url`` is only set when that name has a ``/``.
    """
    if not repository:
        repository = name.split("@", 1)[0]
        last = repository.rsplit("/", 1)[-1]
        if ":" in last:  # drop a tag, keep a registry port
            repository = repository[: len(repository) - len(last)] + last.split(":", 1)[0]
        repository_url = repository if "/" in repository else ""
    else:
        repository_url = repository
    qualifiers = {"arch": platform.architecture} if platform.architecture else {}
    if platform.os:
        qualifiers["os"] = platform.os
    if repository_url:
        qualifiers["repository_url"] = repository_url
    if tag:
        qualifiers["tag"] = tag
    short = repository.rsplit("/", 1)[-1].lower() or "image"
    return str(PackageURL(type="oci", name=short, version=digest or None,
                          qualifiers=qualifiers or None).to_string())
