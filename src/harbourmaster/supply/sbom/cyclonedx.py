"""CycloneDX 1.6 JSON for an :class:`Sbom`, written with the standard json module.

The image is ``metadata.component`` (type ``container``, its digest as the
version, an ``oci`` purl with the platform).  Each package is a component
with its purl, licences, the path it was found at (``evidence.occurrences``)
and harbourmaster properties naming the layer digest and source package.

The document is the one cyclonedx-python-lib's ``JsonV1Dot6`` wrote for the
same model, built as plain dicts: the library spent over a second serialising
a thousand-package image.  Its collections are sorted sets, so this writer
sorts and de-duplicates the same way (components, dependencies, properties,
licences); ``tests/supply/test_cyclonedx_render.py`` keeps the library as the
oracle.  The library still classifies licences (:mod:`cyclonedx.spdx`) and
validates documents.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import uuid
from typing import Any

from cyclonedx.spdx import fixup_id, is_expression
from packageurl import PackageURL

from harbourmaster import __version__
from harbourmaster.supply.sbom.interface import Package, PackageType, Sbom, SbomError
from harbourmaster.supply.sbom.purls import image_purl

__all__ = ["PROPERTY_PREFIX", "CycloneDxValidationError", "to_cyclonedx_json", "validate_cyclonedx"]

PROPERTY_PREFIX = "harbourmaster:"
_SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"

_Pair = tuple[str, str]


class CycloneDxValidationError(SbomError):
    """A document does not validate against the CycloneDX 1.6 JSON schema."""


def _bom_ref(package: Package) -> str:
    where = hashlib.sha256(f"{package.layer_digest}\0{package.path}".encode()).hexdigest()[:12]
    return f"{package.purl}#{where}"


def _properties(pairs: list[_Pair]) -> list[dict[str, str]]:
    # A set in CycloneDX's model: the library drops repeats and orders by (name, value).
    return [{"name": name, "value": value} for name, value in sorted(set(pairs))]


@functools.lru_cache(maxsize=4096)
def _licence(declared: str) -> _Pair:
    """``("id" | "expression" | "name", value)``, decided as cyclonedx-python-lib's
    ``LicenseFactory.make_from_string`` does: an SPDX licence id in any case (written in the
    list's own case), else a valid SPDX expression (kept as written), else a free-text name.
    """
    spdx_id = fixup_id(declared)
    if spdx_id is not None:
        return ("id", spdx_id)
    if is_expression(declared):
        return ("expression", declared)
    return ("name", declared)


def _licences(declared: tuple[str, ...]) -> list[dict[str, Any]]:
    made = [_licence(x) for x in declared]
    # CycloneDX allows either one expression or a list of licences, never both: the first
    # expression wins.  Licences are a set, ids before names, each sorted.
    expression = next((value for kind, value in made if kind == "expression"), None)
    if expression is not None:
        return [{"expression": expression}]
    return [{"license": {kind: value}} for kind, value in sorted(set(made))]


def _component(package: Package, bom_ref: str) -> dict[str, Any]:
    purl = PackageURL.from_string(package.purl)
    group = purl.namespace if package.type in (PackageType.MAVEN, PackageType.NPM) else None
    pairs = [(f"{PROPERTY_PREFIX}package:type", package.type.value),
             (f"{PROPERTY_PREFIX}location:layer", package.layer_digest),
             (f"{PROPERTY_PREFIX}location:path", package.path)]
    if package.source_package:
        pairs.append((f"{PROPERTY_PREFIX}source:name", package.source_package))
    if package.source_version:
        pairs.append((f"{PROPERTY_PREFIX}source:version", package.source_version))
    if package.arch:
        pairs.append((f"{PROPERTY_PREFIX}package:arch", package.arch))
    component: dict[str, Any] = {"type": "library", "bom-ref": bom_ref}
    if group is not None:
        component["group"] = group
    component["name"] = package.name
    if package.version:
        component["version"] = package.version
    if package.licenses:
        component["licenses"] = _licences(package.licenses)
    component["purl"] = str(purl.to_string())  # normalised as the library wrote it
    component["properties"] = _properties(pairs)
    component["evidence"] = {"occurrences": [{"location": package.path}]}
    return component


def _component_order(component: dict[str, Any]) -> tuple[object, ...]:
    # The library's component order: type, group, name, version, bom-ref, a missing group or
    # version after any present one.  bom-refs are unique, so nothing later decides.
    group, version = component.get("group"), component.get("version")
    return (component["type"], group is None, group or "", component["name"],
            version is None, version or "", component["bom-ref"])


def to_cyclonedx_json(sbom: Sbom, *, created: datetime.datetime | None = None) -> str:
    """The SBOM as a CycloneDX 1.6 JSON document (a string), timestamped ``created`` (default now).

    Raises ``ValueError`` if a package's purl does not parse.
    """
    image = sbom.image
    root_ref = f"image:{image.digest}"
    root_purl = image_purl(name=image.name, digest=image.digest, platform=image.platform,
                           repository=image.repository, tag=image.tag)
    root = {"type": "container", "bom-ref": root_ref, "name": image.name, "version": image.digest,
            "purl": str(PackageURL.from_string(root_purl).to_string()),
            "properties": _properties([(f"{PROPERTY_PREFIX}image:platform", str(image.platform))]
                                      + [(f"{PROPERTY_PREFIX}image:layer", d) for d in image.layer_digests])}
    members: list[dict[str, Any]] = []
    if sbom.distro is not None:
        distro: dict[str, Any] = {"type": "operating-system", "bom-ref": f"os:{sbom.distro.id}",
                                  "name": sbom.distro.id}
        if sbom.distro.version_id:
            distro["version"] = sbom.distro.version_id
        if sbom.distro.pretty_name:
            distro["description"] = sbom.distro.pretty_name
        members.append(distro)
    seen: set[str] = set()
    for package in sbom.packages:
        bom_ref = _bom_ref(package)
        if bom_ref in seen:  # the same package twice in one file
            continue
        seen.add(bom_ref)
        members.append(_component(package, bom_ref))
    members.sort(key=_component_order)
    # The image depends on each component, each on nothing; dependencies are sorted by ref.
    refs = sorted(c["bom-ref"] for c in members)
    image_dependency: dict[str, Any] = {"ref": root_ref, "dependsOn": refs} if refs else {"ref": root_ref}
    dependencies = sorted([image_dependency, *({"ref": ref} for ref in refs)], key=lambda d: str(d["ref"]))
    metadata: dict[str, Any] = {
        "timestamp": (created or datetime.datetime.now(tz=datetime.UTC)).isoformat(),
        "tools": {"components": [{"type": "application", "name": "harbourmaster", "version": __version__}]},
        "component": root,
    }
    if sbom.warnings:
        metadata["properties"] = _properties([(f"{PROPERTY_PREFIX}warning", str(w)) for w in sbom.warnings])
    document: dict[str, Any] = {
        "$schema": _SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": metadata,
    }
    if members:
        document["components"] = members
    document["dependencies"] = dependencies
    return json.dumps(document, indent=2)


def validate_cyclonedx(document: str) -> None:
    """Validate a CycloneDX JSON document against the CycloneDX 1.6 schema (strict).

    Raises :class:`CycloneDxValidationError` with the validator's reason.
    """
    # Imported here: the validator pulls in jsonschema, which writing does not need.
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document)
    if error is not None:
        raise CycloneDxValidationError(
            f"CycloneDX document does not validate against the 1.6 schema: {error}")
