"""Storing an SBOM document as received (a fetched, attached SBOM), indexed like a generated one.

:func:`~harbourmaster.services.sboms.store_sbom` renders an :class:`Sbom` it
generated itself.  A fetched document must be kept byte for byte, so this reads
the index entries (purl parts, source package, layer) out of the document instead:
CycloneDX components (with harbourmaster's properties when present) or SPDX
packages with a ``purl`` external reference.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from packageurl import PackageURL

from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import keep_sbom
from harbourmaster.store.values import IndexedComponent, SbomDocument, StoredSbom
from harbourmaster.supply.sbom import SbomFormat

__all__ = ["document_components", "store_document"]

_PREFIX = "harbourmaster:"
_SPDX_LAYER = re.compile(r" in layer (\S+?)(?:;|$)")
_SPDX_SOURCE = re.compile(r"; source package (\S+)(?: (\S+))?$")


def _cyclonedx_components(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    stack = list(doc.get("components") or [])
    while stack:
        component = stack.pop(0)
        if isinstance(component, dict):
            yield component
            stack.extend(component.get("components") or [])


def _row(purl_text: str, *, version: str, source: str | None, source_version: str | None,
         layer: str | None) -> IndexedComponent | None:
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError:
        return None
    quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return IndexedComponent(purl=purl_text, purl_type=purl.type, namespace=purl.namespace, name=purl.name,
                            version=version or purl.version or "", source_package=source or None,
                            source_version=source_version or None, distro=quals.get("distro"),
                            layer_digest=layer or None)


def document_components(document: str, fmt: SbomFormat) -> list[IndexedComponent]:
    """The index entries of every package with a valid purl in ``document``.

    Raises:
        BadInput: the document is not a JSON object.
    """
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise BadInput(f"SBOM document is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadInput("SBOM document is not a JSON object")
    rows: list[IndexedComponent] = []
    if fmt is SbomFormat.CYCLONEDX_JSON:
        for c in _cyclonedx_components(doc):
            if not isinstance(c.get("purl"), str):
                continue
            props = {p.get("name"): p.get("value") for p in c.get("properties") or [] if isinstance(p, dict)}
            row = _row(c["purl"], version=str(c.get("version") or ""),
                       source=props.get(f"{_PREFIX}source:name"),
                       source_version=props.get(f"{_PREFIX}source:version"),
                       layer=props.get(f"{_PREFIX}location:layer"))
            if row is not None:
                rows.append(row)
        return rows
    for p in doc.get("packages") or []:
        if not isinstance(p, dict) or p.get("primaryPackagePurpose") == "CONTAINER":
            continue
        purl = next((r.get("referenceLocator") for r in p.get("externalRefs") or []
                     if isinstance(r, dict) and r.get("referenceType") == "purl"), None)
        if not isinstance(purl, str):
            continue
        info = str(p.get("sourceInfo") or "")
        layer, source = _SPDX_LAYER.search(info), _SPDX_SOURCE.search(info)
        row = _row(purl, version=str(p.get("versionInfo") or ""),
                   source=source.group(1) if source else None,
                   source_version=source.group(2) if source else None,
                   layer=layer.group(1) if layer else None)
        if row is not None:
            rows.append(row)
    return rows


def store_document(hm: Harbourmaster, document: str, *, fmt: SbomFormat, image_digest: str, image_name: str,
                   platform: str, actor: str, origin: str) -> StoredSbom:
    """Keep ``document`` unchanged and index its components; replaces an earlier SBOM for the same
    image digest, format and platform.  One transaction, audited as ``sbom.store``.

    Raises:
        BadInput: the document is not a JSON object.
    """
    rows = document_components(document, fmt)
    distros = Counter(r.distro for r in rows if r.distro)
    distro = distros.most_common(1)[0][0] if distros else None
    return keep_sbom(hm, SbomDocument(image_digest=image_digest, image_name=image_name, platform=platform,
                                      format=fmt.value, distro=distro, origin=origin, document=document,
                                      components=rows), actor=actor)
