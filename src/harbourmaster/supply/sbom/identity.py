"""Which image an SBOM document names, and re-labelling it for the registry image it is attached to.

An SBOM of a registry image names that image's repository, the way CycloneDX
and SPDX consumers (and the purl spec's ``oci`` type) expect: the root
component (CycloneDX ``metadata.component``; the SPDX package the document
DESCRIBES) is called by the image's reference and carries the purl
``pkg:oci/<name>@<digest>?repository_url=<registry>/<repository>&tag=<tag>``.

An SBOM generated from a local source (``oci-layout:DIR:TAG``,
``docker-archive:FILE``) names the source (``DIR:TAG``, ``pkg:oci/dir``) and
keeps that name in the store.  When such a document, or one naming another
repository, is attached to a registry image, :func:`relabel_document` gives the
copy that is pushed the registry image's name and purl; the name it had is kept
beside it (CycloneDX property ``harbourmaster:image:source-name``; in SPDX, the
image package's ``comment``), and the document is marked as a new revision
(CycloneDX ``version`` + 1; a new SPDX ``documentNamespace``), as both formats
ask of a modified document.  Nothing here does I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from harbourmaster.supply.sbom.formats import SbomFormat
from harbourmaster.supply.sbom.interface import ImageInfo, SbomError

__all__ = [
    "SOURCE_NAME_PROPERTY",
    "DocumentImage",
    "DocumentNotRelabelled",
    "document_image",
    "for_registry_image",
    "relabel_document",
]

SOURCE_NAME_PROPERTY = "harbourmaster:image:source-name"
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9.-]+")
_DOCUMENT = "SPDXRef-DOCUMENT"


class DocumentNotRelabelled(SbomError):
    """An SBOM document cannot be re-labelled: it is not a JSON object of its format."""

    kind = "sbom-relabel"


@dataclass(frozen=True, slots=True)
class DocumentImage:
    """The image a document names: its root component's name and purl, and the purl's
    ``repository_url`` and ``tag`` qualifiers (empty when absent)."""

    name: str
    purl: str
    repository: str
    tag: str


def for_registry_image(image: ImageInfo, *, name: str, repository: str, tag: str | None) -> ImageInfo:
    """``image`` as read from a registry: named ``name`` (the normalised reference), in ``repository``
    (``registry.example/team/app``) under ``tag`` (None when named by digest)."""
    return dataclasses.replace(image, name=name, repository=repository, tag=tag or "")


def _load(document: str, fmt: SbomFormat) -> dict[str, Any]:
    try:
        doc = json.loads(document)
    except ValueError as exc:
        raise DocumentNotRelabelled(f"{fmt.value} document is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise DocumentNotRelabelled(f"{fmt.value} document is not a JSON object")
    return doc


def _qualifiers(purl: str) -> tuple[PackageURL | None, dict[str, str]]:
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return None, {}
    quals = parsed.qualifiers if isinstance(parsed.qualifiers, dict) else {}
    return parsed, {str(k): str(v) for k, v in quals.items()}


def _image(name: object, purl: object) -> DocumentImage:
    purl_text = purl if isinstance(purl, str) else ""
    _, quals = _qualifiers(purl_text)
    return DocumentImage(name=name if isinstance(name, str) else "", purl=purl_text,
                         repository=quals.get("repository_url", ""), tag=quals.get("tag", ""))


def _spdx_root(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The package the document DESCRIBES (the container image, when several are described)."""
    described = [r.get("relatedSpdxElement") for r in doc.get("relationships") or []
                 if isinstance(r, dict) and r.get("spdxElementId") == _DOCUMENT
                 and r.get("relationshipType") == "DESCRIBES"]
    described += [x for x in doc.get("documentDescribes") or [] if isinstance(x, str)]
    packages = [p for p in doc.get("packages") or [] if isinstance(p, dict) and p.get("SPDXID") in described]
    containers = [p for p in packages if p.get("primaryPackagePurpose") == "CONTAINER"]
    chosen = containers or packages
    return chosen[0] if chosen else None


def _spdx_purl(package: dict[str, Any]) -> str:
    return next((str(r.get("referenceLocator")) for r in package.get("externalRefs") or []
                 if isinstance(r, dict) and r.get("referenceType") == "purl"), "")


def document_image(document: str, fmt: SbomFormat) -> DocumentImage:
    """The image ``document`` names (empty fields where it names none).

    Raises:
        DocumentNotRelabelled: the document is not a JSON object.
    """
    doc = _load(document, fmt)
    if fmt is SbomFormat.CYCLONEDX_JSON:
        component = (doc.get("metadata") or {}).get("component")
        if not isinstance(component, dict):
            return _image("", "")
        return _image(component.get("name"), component.get("purl"))
    package = _spdx_root(doc)
    if package is None:
        return _image(doc.get("name"), "")
    return _image(package.get("name"), _spdx_purl(package))


def _registry_purl(old_purl: str, *, digest: str, repository: str, tag: str) -> str:
    """The oci purl for ``repository``, keeping the old purl's other qualifiers (arch, os...)."""
    _, quals = _qualifiers(old_purl)
    quals.pop("tag", None)
    quals["repository_url"] = repository
    if tag:
        quals["tag"] = tag
    return str(PackageURL(type="oci", name=repository.rsplit("/", 1)[-1].lower() or "image", version=digest,
                          qualifiers=quals).to_string())


def _relabel_cyclonedx(doc: dict[str, Any], *, name: str, digest: str, repository: str, tag: str) -> None:
    metadata = doc.setdefault("metadata", {})
    component = metadata.get("component")
    if not isinstance(component, dict):
        component = metadata["component"] = {"type": "container", "bom-ref": f"image:{digest}",
                                             "name": name, "version": digest}
    old_name = component.get("name")
    component["purl"] = _registry_purl(str(component.get("purl") or ""), digest=digest, repository=repository,
                                       tag=tag)
    component["name"] = name
    properties = component.setdefault("properties", [])
    already = any(isinstance(p, dict) and p.get("name") == SOURCE_NAME_PROPERTY for p in properties)
    if isinstance(old_name, str) and old_name and old_name != name and not already:
        properties.append({"name": SOURCE_NAME_PROPERTY, "value": old_name})
    if not properties:
        component.pop("properties")
    version = doc.get("version")
    doc["version"] = version + 1 if isinstance(version, int) and not isinstance(version, bool) else 1


def _relabel_spdx(doc: dict[str, Any], *, name: str, digest: str, repository: str, tag: str) -> None:
    package = _spdx_root(doc)
    if package is None:
        package = {"SPDXID": "SPDXRef-Image", "name": name, "versionInfo": digest,
                   "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
                   "primaryPackagePurpose": "CONTAINER"}
        doc.setdefault("packages", []).append(package)
        describes = {"spdxElementId": _DOCUMENT, "relationshipType": "DESCRIBES",
                     "relatedSpdxElement": "SPDXRef-Image"}
        doc.setdefault("relationships", []).append(describes)
    old_name = package.get("name")
    purl = _registry_purl(_spdx_purl(package), digest=digest, repository=repository, tag=tag)
    refs = [r for r in package.get("externalRefs") or [] if not (isinstance(r, dict)
                                                                   and r.get("referenceType") == "purl")]
    package["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                "referenceLocator": purl}, *refs]
    package["name"] = name
    if isinstance(old_name, str) and old_name and old_name != name:
        comment = package.get("comment")
        note = f"source name {old_name}"
        if not (isinstance(comment, str) and "source name " in comment):
            package["comment"] = f"{comment}; {note}" if isinstance(comment, str) and comment else note
    doc["name"] = name
    # A modified document is another document: SPDX wants a namespace of its own (derived, so that
    # re-labelling the same document for the same image twice gives the same bytes).
    key = hashlib.sha256(f"{doc.get('documentNamespace')}\0{name}".encode()).hexdigest()[:16]
    doc["documentNamespace"] = f"https://harbourmaster.invalid/spdx/{_ID_UNSAFE.sub('-', name)}-{key}"


def relabel_document(document: str, fmt: SbomFormat, *, name: str, digest: str, repository: str,
                     tag: str | None) -> str:
    """``document`` naming the registry image ``name`` (its normalised reference) with digest
    ``digest`` in ``repository`` under ``tag``; everything else is kept.

    Raises:
        DocumentNotRelabelled: the document is not a JSON object.
    """
    doc = _load(document, fmt)
    relabel = _relabel_cyclonedx if fmt is SbomFormat.CYCLONEDX_JSON else _relabel_spdx
    relabel(doc, name=name, digest=digest, repository=repository, tag=tag or "")
    return json.dumps(doc, indent=2, ensure_ascii=False)
