"""SPDX 2.3 JSON for an :class:`Sbom`, and validation against the official SPDX 2.3 schema.

The image is a package with ``primaryPackagePurpose: CONTAINER`` that the
document DESCRIBES and that CONTAINS every other package.  A declared licence
that is a valid SPDX expression becomes ``licenseDeclared``; anything else
becomes a ``LicenseRef-`` with its text under ``hasExtractedLicensingInfos``.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import re
from importlib import resources
from typing import Any

from cyclonedx.spdx import is_expression

from harbourmaster import __version__
from harbourmaster.supply.sbom.interface import Package, Sbom, SbomError
from harbourmaster.supply.sbom.purls import image_purl

__all__ = ["SPDX_VERSION", "SpdxValidationError", "to_spdx_json", "validate_spdx"]

SPDX_VERSION = "SPDX-2.3"
NOASSERTION = "NOASSERTION"
_ID_UNSAFE = re.compile(r"[^a-zA-Z0-9.-]+")


class SpdxValidationError(SbomError):
    """A document does not validate against the SPDX 2.3 JSON schema."""


def _spdx_id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(_ID_UNSAFE.sub("-", p).strip("-") or "x" for p in parts)


def _licence_field(licences: tuple[str, ...], extracted: dict[str, str]) -> str:
    if not licences:
        return NOASSERTION
    terms = []
    for text in licences:
        if is_expression(text):
            terms.append(text if len(licences) == 1 else f"({text})")
            continue
        ref = "LicenseRef-" + (_ID_UNSAFE.sub("-", text).strip("-")[:60] or "unnamed") + "-" + hashlib.sha256(
            text.encode()).hexdigest()[:8]
        extracted[ref] = text
        terms.append(ref)
    return " AND ".join(terms)


def _package(package: Package, index: int, extracted: dict[str, str]) -> dict[str, Any]:
    source = ""
    if package.source_package:
        source = f"; source package {package.source_package} {package.source_version}".rstrip()
    doc: dict[str, Any] = {
        "SPDXID": _spdx_id("Package", package.type.value, package.name, str(index)),
        "name": package.name,
        "downloadLocation": NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": NOASSERTION,
        "licenseDeclared": _licence_field(package.licenses, extracted),
        "copyrightText": NOASSERTION,
        "primaryPackagePurpose": "LIBRARY",
        "sourceInfo": f"acquired package info from {package.path} in layer {package.layer_digest}{source}",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": package.purl}],
    }
    if package.version:
        doc["versionInfo"] = package.version
    return doc


def to_spdx_json(sbom: Sbom, *, created: datetime.datetime | None = None) -> str:
    """The SBOM as an SPDX 2.3 JSON document (a string)."""
    image = sbom.image
    when = (created or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    extracted: dict[str, str] = {}
    image_id = _spdx_id("Image")
    algo, _, hexpart = image.digest.partition(":")
    image_package: dict[str, Any] = {
        "SPDXID": image_id, "name": image.name, "versionInfo": image.digest,
        "downloadLocation": NOASSERTION, "filesAnalyzed": False, "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": NOASSERTION, "licenseDeclared": NOASSERTION, "copyrightText": NOASSERTION,
        "comment": f"platform {image.platform}; layers {', '.join(image.layer_digests) or '(none)'}",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": image_purl(name=image.name, digest=image.digest,
                                                         platform=image.platform, repository=image.repository,
                                                         tag=image.tag)}],
    }
    if algo == "sha256" and hexpart:
        image_package["checksums"] = [{"algorithm": "SHA256", "checksumValue": hexpart}]
    packages = [image_package]
    if sbom.distro is not None:
        packages.append({
            "SPDXID": _spdx_id("OperatingSystem", sbom.distro.id), "name": sbom.distro.id,
            "versionInfo": sbom.distro.version_id or sbom.distro.version_codename or NOASSERTION,
            "downloadLocation": NOASSERTION, "filesAnalyzed": False,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
            "summary": sbom.distro.pretty_name or sbom.distro.id})
    packages.extend(_package(p, i, extracted) for i, p in enumerate(sbom.packages))
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": image_id}]
    relationships.extend({"spdxElementId": image_id, "relationshipType": "CONTAINS",
                          "relatedSpdxElement": p["SPDXID"]} for p in packages[1:])
    namespace_key = hashlib.sha256(f"{image.digest}\0{when.isoformat()}".encode()).hexdigest()[:16]
    document: dict[str, Any] = {
        "spdxVersion": SPDX_VERSION,
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": image.name,
        "documentNamespace": f"https://harbourmaster.invalid/spdx/{_ID_UNSAFE.sub('-', image.name)}-"
                             f"{namespace_key}",
        "creationInfo": {"created": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "creators": [f"Tool: harbourmaster-{__version__}"]},
        "packages": packages,
        "relationships": relationships,
    }
    if sbom.warnings:
        document["comment"] = "warnings: " + "; ".join(str(w) for w in sbom.warnings)
    if extracted:
        document["hasExtractedLicensingInfos"] = [
            {"licenseId": ref, "extractedText": text, "name": text}
            for ref, text in sorted(extracted.items())]
    return json.dumps(document, indent=2)


@functools.cache
def _validator() -> Any:
    import jsonschema  # here, not at module level: only validation needs it

    text = resources.files("harbourmaster.supply").joinpath("schemas/spdx-schema.json").read_text(
        encoding="utf-8")
    schema = json.loads(text)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def validate_spdx(document: str) -> None:
    """Validate an SPDX JSON document against the official SPDX 2.3 schema.

    Raises :class:`SpdxValidationError` naming the first failing field path.
    """
    try:
        data = json.loads(document)
    except ValueError as exc:
        raise SpdxValidationError(f"SPDX document is not JSON ({exc})") from exc
    errors = sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        raise SpdxValidationError(
            f"SPDX document does not validate against the SPDX 2.3 schema: {errors[0].message}",
            details=[f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
                     for e in errors[:10]])
