"""What the matcher scans: components (purl parts, version, source package), from any SBOM we accept.

Readers: a generated :class:`~harbourmaster.supply.sbom.Sbom`, a CycloneDX or
SPDX JSON document (ours, or any other tool's that carries purls), and the
rows of the stored-SBOM index.  The source package of a Debian package comes
from our ``harbourmaster:source:*`` properties (CycloneDX), the ``sourceInfo``
we write (SPDX), or the purl's ``upstream=`` qualifier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from harbourmaster.errors import BadInput
from harbourmaster.supply.sbom import Sbom

__all__ = [
    "Component",
    "ComponentError",
    "SbomDocument",
    "components_from_document",
    "components_from_rows",
    "components_from_sbom",
]

_PROPERTY = "harbourmaster:"
_SPDX_SOURCE = re.compile(r"; source package (\S+)(?: (\S+))?\s*$")
#: The largest SBOM document read.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


class ComponentError(BadInput):
    """An SBOM document cannot be read as components."""

    kind = "sbom-document"


@dataclass(frozen=True, slots=True, kw_only=True)
class Component:
    """One installed package: its purl parts, version and (OS packages) source package."""

    name: str
    version: str
    purl: str
    purl_type: str
    namespace: str | None = None
    distro: str | None = None
    source_package: str | None = None
    source_version: str | None = None

    @classmethod
    def from_purl(
        cls,
        purl: str,
        *,
        version: str | None = None,
        source_package: str | None = None,
        source_version: str | None = None,
    ) -> Component:
        """A component from its purl (the version from the purl unless given).

        Raises:
            ComponentError: ``purl`` is not a valid package URL or has no version.
        """
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError as exc:
            raise ComponentError(f"invalid purl {purl[:200]!r}: {exc}") from None
        quals = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
        found = version or parsed.version
        if not found:
            raise ComponentError(f"purl {purl[:200]!r} has no version")
        return cls(
            name=parsed.name,
            version=found,
            purl=purl,
            purl_type=parsed.type,
            namespace=parsed.namespace,
            distro=quals.get("distro"),
            source_package=source_package or quals.get("upstream"),
            source_version=source_version,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SbomDocument:
    """An SBOM read back: the image it describes (name, digest) and its components."""

    image_name: str
    image_digest: str
    components: tuple[Component, ...]
    skipped: tuple[str, ...] = ()


def components_from_sbom(sbom: Sbom) -> tuple[Component, ...]:
    """The components of a generated SBOM (packages whose purl does not parse are left out)."""
    out: list[Component] = []
    for package in sbom.packages:
        try:
            out.append(
                Component.from_purl(
                    package.purl,
                    version=package.version or None,
                    source_package=package.source_package or None,
                    source_version=package.source_version or None,
                )
            )
        except ComponentError:
            continue
    return tuple(out)


def _properties(component: Mapping[str, Any]) -> dict[str, str]:
    props = _list(component.get("properties"))
    return {str(p.get("name")): str(p.get("value")) for p in props if isinstance(p, Mapping)}


def _cyclonedx(doc: Mapping[str, Any], where: str) -> SbomDocument:
    meta = doc.get("metadata") or {}
    root = meta.get("component") if isinstance(meta, Mapping) else None
    root = root if isinstance(root, Mapping) else {}
    out: list[Component] = []
    skipped: list[str] = []
    stack = list(_list(doc.get("components")))
    while stack:
        item = stack.pop(0)
        if not isinstance(item, Mapping):
            continue
        stack.extend(_list(item.get("components")))
        purl = item.get("purl")
        if not isinstance(purl, str) or not purl:
            continue
        props = _properties(item)
        try:
            out.append(
                Component.from_purl(
                    purl,
                    version=item.get("version") if isinstance(item.get("version"), str) else None,
                    source_package=props.get(f"{_PROPERTY}source:name"),
                    source_version=props.get(f"{_PROPERTY}source:version"),
                )
            )
        except ComponentError as exc:
            skipped.append(exc.message)
    return SbomDocument(
        image_name=str(root.get("name") or where),
        image_digest=str(root.get("version") or ""),
        components=tuple(out),
        skipped=tuple(skipped),
    )


def _list(value: object) -> list[Any]:
    """A JSON array from an untrusted document; anything else (``true``, an object) counts as empty."""
    return value if isinstance(value, list) else []


def _spdx(doc: Mapping[str, Any], where: str) -> SbomDocument:
    out: list[Component] = []
    skipped: list[str] = []
    name, digest = str(doc.get("name") or where), ""
    for package in _list(doc.get("packages")):
        if not isinstance(package, Mapping):
            continue
        purls = [
            r.get("referenceLocator")
            for r in _list(package.get("externalRefs"))
            if isinstance(r, Mapping) and r.get("referenceType") == "purl"
        ]
        purl = next((p for p in purls if isinstance(p, str)), None)
        if package.get("primaryPackagePurpose") == "CONTAINER":
            name, digest = str(package.get("name") or name), str(package.get("versionInfo") or "")
            continue
        if purl is None:
            continue
        source = _SPDX_SOURCE.search(str(package.get("sourceInfo") or ""))
        version = package.get("versionInfo")
        try:
            out.append(
                Component.from_purl(
                    purl,
                    version=version if isinstance(version, str) and version != "NOASSERTION" else None,
                    source_package=source.group(1) if source else None,
                    source_version=source.group(2) if source else None,
                )
            )
        except ComponentError as exc:
            skipped.append(exc.message)
    return SbomDocument(image_name=name, image_digest=digest, components=tuple(out), skipped=tuple(skipped))


def components_from_document(text: str | bytes, *, where: str) -> SbomDocument:
    """Read a CycloneDX (``bomFormat: CycloneDX``) or SPDX (``spdxVersion``) JSON document.

    Raises:
        ComponentError: it is not JSON, or is neither format; the message names ``where``.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise ComponentError(f"{where}: larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ComponentError(f"{where}: not a JSON SBOM ({exc})") from None
    if isinstance(doc, Mapping) and doc.get("bomFormat") == "CycloneDX":
        return _cyclonedx(doc, where)
    if isinstance(doc, Mapping) and isinstance(doc.get("spdxVersion"), str):
        return _spdx(doc, where)
    raise ComponentError(
        f"{where}: neither a CycloneDX nor an SPDX JSON document",
        details=["expected 'bomFormat': 'CycloneDX' or an 'spdxVersion' field"],
    )


def components_from_rows(rows: Iterable[Any]) -> tuple[Component, ...]:
    """Components from ``sbom_components`` rows (attributes purl, purl_type, namespace, name, version,
    distro, source_package, source_version)."""
    return tuple(
        Component(
            name=r.name,
            version=r.version,
            purl=r.purl,
            purl_type=r.purl_type,
            namespace=r.namespace,
            distro=r.distro,
            source_package=r.source_package,
            source_version=r.source_version,
        )
        for r in rows
    )
