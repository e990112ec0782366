"""The SBOM store: every SBOM kept for its image's life, indexed by image digest and by component purl.

The purl index is what continuous correlation queries when new advisories
arrive: by purl type and package name, or by source package for distro
advisories, without reading any SBOM document.  :func:`keep_sbom` is the one
way an SBOM is kept (replaced and indexed, audited), whether harbourmaster
rendered it (:func:`store_sbom`) or fetched it
(:func:`harbourmaster.services._sbom_documents.store_document`).
"""

from __future__ import annotations

from packageurl import PackageURL

from harbourmaster.errors import NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import IndexedComponent, SbomDocument, StoredSbom
from harbourmaster.supply.sbom import Sbom, SbomFormat, render_sbom

__all__ = ["StoredSbom", "component_rows", "get_sbom", "keep_sbom", "list_sboms", "store_sbom"]


def _distro_tag(sbom: Sbom) -> str | None:
    if sbom.distro is None:
        return None
    return f"{sbom.distro.id}-{sbom.distro.version_id}" if sbom.distro.version_id else sbom.distro.id


def component_rows(sbom: Sbom) -> list[IndexedComponent]:
    """The index entries of an SBOM's packages (purl parts, source package, distro qualifier)."""
    rows: list[IndexedComponent] = []
    for pkg in sbom.packages:
        try:
            purl = PackageURL.from_string(pkg.purl)
            quals = purl.qualifiers if isinstance(purl.qualifiers, dict) else {}
            purl_type, namespace, name = purl.type, purl.namespace, purl.name
            distro = quals.get("distro")
        except ValueError:
            purl_type, namespace, name, distro = str(pkg.type), None, pkg.name, None
        rows.append(
            IndexedComponent(
                purl=pkg.purl,
                purl_type=purl_type,
                namespace=namespace,
                name=name,
                version=pkg.version,
                source_package=pkg.source_package or None,
                source_version=pkg.source_version or None,
                distro=distro,
                layer_digest=pkg.layer_digest,
            )
        )
    return rows


def keep_sbom(hm: Harbourmaster, sbom: SbomDocument, *, actor: str) -> StoredSbom:
    """Keep ``sbom`` and index its components, replacing an earlier SBOM (and its index) for the same
    image digest, format and platform.  One transaction, audited as ``sbom.store``."""
    with hm.store.transaction() as tx:
        stored = tx.sboms.replace(sbom, created_at=hm.clock.now())
        tx.audit.append(
            actor=actor,
            action="sbom.store",
            target=sbom.image_name,
            details={
                "digest": sbom.image_digest,
                "format": sbom.format,
                "platform": sbom.platform,
                "components": len(sbom.components),
                "origin": sbom.origin,
            },
        )
    return stored


def store_sbom(
    hm: Harbourmaster, sbom: Sbom, *, fmt: SbomFormat, actor: str, origin: str = "generated"
) -> StoredSbom:
    """Keep ``sbom`` rendered as ``fmt`` and index its components (see :func:`keep_sbom`)."""
    return keep_sbom(
        hm,
        SbomDocument(
            image_digest=sbom.image.digest,
            image_name=sbom.image.name,
            platform=str(sbom.image.platform),
            format=fmt.value,
            distro=_distro_tag(sbom),
            origin=origin,
            document=render_sbom(sbom, fmt),
            components=component_rows(sbom),
        ),
        actor=actor,
    )


def list_sboms(hm: Harbourmaster, *, image_digest: str | None = None) -> list[StoredSbom]:
    with hm.store.read() as tx:
        return tx.sboms.stored(image_digest=image_digest)


def get_sbom(
    hm: Harbourmaster, *, image_digest: str, fmt: SbomFormat | None = None
) -> tuple[StoredSbom, str]:
    """The newest stored SBOM document for an image digest.

    Raises:
        NotFound: none is stored for that digest (and format).
    """
    with hm.store.read() as tx:
        found = tx.sboms.newest(image_digest=image_digest, format=fmt.value if fmt is not None else None)
    if found is None:
        raise NotFound(
            f"no SBOM is stored for image {image_digest}"
            + (f" in format {fmt.value}" if fmt is not None else "")
        )
    return found
