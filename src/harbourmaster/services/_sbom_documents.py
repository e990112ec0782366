"""Storing an SBOM document as received (a fetched, attached SBOM), indexed like a generated one.

:func:`~harbourmaster.services.sboms.store_sbom` renders an :class:`Sbom` it
generated itself.  A fetched document must be kept byte for byte, so this reads
the index rows (purl parts, source package, layer) out of the document instead:
CycloneDX components (with harbourmaster's properties when present) or SPDX
packages with a ``purl`` external reference.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from packageurl import PackageURL
from sqlalchemy import delete, insert, select

from harbourmaster.errors import BadInput
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import StoredSbom
from harbourmaster.store.models import SbomComponentRow, SbomRow
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
         layer: str | None) -> dict[str, str | None] | None:
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError:
        return None
    quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
    return {"purl": purl_text, "purl_type": purl.type, "namespace": purl.namespace, "name": purl.name,
            "version": version or purl.version or "", "source_package": source or None,
            "source_version": source_version or None, "distro": quals.get("distro"),
            "layer_digest": layer or None}


def document_components(document: str, fmt: SbomFormat) -> list[dict[str, str | None]]:
    """The index rows of every package with a valid purl in ``document``.

    Raises:
        BadInput: the document is not a JSON object.
    """
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise BadInput(f"SBOM document is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadInput("SBOM document is not a JSON object")
    rows: list[dict[str, str | None]] = []
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
    distros = Counter(r["distro"] for r in rows if r["distro"])
    distro = distros.most_common(1)[0][0] if distros else None
    now = dt.datetime.now(dt.UTC)
    with hm.db.transaction() as session:
        old = session.scalars(select(SbomRow).where(
            SbomRow.image_digest == image_digest, SbomRow.format == fmt.value, SbomRow.platform == platform,
        )).one_or_none()
        if old is not None:
            session.execute(delete(SbomComponentRow).where(SbomComponentRow.sbom_id == old.id))
            session.delete(old)
            session.flush()
        row = SbomRow(image_digest=image_digest, image_name=image_name, platform=platform, format=fmt.value,
                      distro=distro, origin=origin, component_count=len(rows), document=document,
                      created_at=now)
        session.add(row)
        session.flush()
        if rows:
            session.execute(insert(SbomComponentRow), [{"sbom_id": row.id, **r} for r in rows])
        append_audit(session, actor=actor, action="sbom.store", target=image_name,
                     details={"digest": image_digest, "format": fmt.value, "platform": platform,
                              "components": len(rows), "origin": origin})
        return StoredSbom(row.id, row.image_digest, row.image_name, row.platform, row.format, row.distro,
                          row.origin, row.component_count, row.created_at)
