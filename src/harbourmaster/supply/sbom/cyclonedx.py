"""CycloneDX 1.6 JSON for an :class:`Sbom`, written with cyclonedx-python-lib.

The image is ``metadata.component`` (type ``container``, its digest as the
version, an ``oci`` purl with the platform).  Each package is a component
with its purl, licences, the path it was found at (``evidence.occurrences``)
and harbourmaster properties naming the layer digest and source package.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.dependency import Dependable, Dependency
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from harbourmaster import __version__
from harbourmaster.supply.sbom.interface import Package, PackageType, Sbom, SbomError
from harbourmaster.supply.sbom.purls import image_purl

__all__ = ["PROPERTY_PREFIX", "CycloneDxValidationError", "to_cyclonedx_json", "validate_cyclonedx"]

PROPERTY_PREFIX = "harbourmaster:"


class CycloneDxValidationError(SbomError):
    """A document does not validate against the CycloneDX 1.6 JSON schema."""


class _DependencyIndex:
    """An indexed ``register_dependency`` for one :class:`Bom`.

    ``Bom.validate`` (run by every writer) calls ``register_dependency`` once per
    component, and the stock method scans every registered dependency each
    time: quadratic, about a second at 1,000 packages.  This keeps its semantics
    with a dict.  It is bound on the instance: a ``Bom`` subclass would not
    serialise (py-serializable registers the class itself).
    """

    def __init__(self, bom: Bom) -> None:
        self._bom = bom
        self._index: dict[object, Dependency] = {}

    def __call__(self, target: Dependable, depends_on: Iterable[Dependable] | None = None) -> None:
        if len(self._index) != len(self._bom.dependencies):
            self._index = {d.ref: d for d in self._bom.dependencies}
        existing = self._index.get(target.bom_ref)
        if existing is not None:
            if depends_on:
                existing.dependencies.update(Dependency(ref=d.bom_ref) for d in depends_on)
        else:
            created = Dependency(ref=target.bom_ref,
                                 dependencies=[Dependency(ref=d.bom_ref) for d in depends_on or ()])
            self._bom.dependencies.add(created)
            self._index[created.ref] = created
        for dependent in depends_on or ():
            self(dependent)


def _bom_ref(package: Package) -> str:
    where = hashlib.sha256(f"{package.layer_digest}\0{package.path}".encode()).hexdigest()[:12]
    return f"{package.purl}#{where}"


def _licences(declared: tuple[str, ...],
              factory: LicenseFactory) -> list[LicenseExpression | DisjunctiveLicense]:
    made = [factory.make_from_string(x) for x in declared]
    # CycloneDX allows either one expression or a list of licences, never both.
    expressions = [x for x in made if isinstance(x, LicenseExpression)]
    return [expressions[0]] if expressions and len(made) > 1 else made


def _component(package: Package, licences: LicenseFactory) -> Component:
    properties = [Property(name=f"{PROPERTY_PREFIX}package:type", value=package.type.value),
                  Property(name=f"{PROPERTY_PREFIX}location:layer", value=package.layer_digest),
                  Property(name=f"{PROPERTY_PREFIX}location:path", value=package.path)]
    if package.source_package:
        properties.append(Property(name=f"{PROPERTY_PREFIX}source:name", value=package.source_package))
    if package.source_version:
        properties.append(Property(name=f"{PROPERTY_PREFIX}source:version", value=package.source_version))
    if package.arch:
        properties.append(Property(name=f"{PROPERTY_PREFIX}package:arch", value=package.arch))
    purl = PackageURL.from_string(package.purl)
    return Component(
        name=package.name, version=package.version or None, group=purl.namespace if package.type in (
            PackageType.MAVEN, PackageType.NPM) else None,
        type=ComponentType.LIBRARY,
        bom_ref=_bom_ref(package), purl=purl,
        licenses=_licences(package.licenses, licences) or None,
        properties=properties,
        evidence=ComponentEvidence(occurrences=[Occurrence(location=package.path)]))


def to_cyclonedx_json(sbom: Sbom) -> str:
    """The SBOM as a CycloneDX 1.6 JSON document (a string)."""
    image = sbom.image
    bom = Bom()
    bom.register_dependency = _DependencyIndex(bom)  # type: ignore[method-assign]
    root = Component(
        name=image.name, version=image.digest, type=ComponentType.CONTAINER, bom_ref=f"image:{image.digest}",
        purl=PackageURL.from_string(image_purl(name=image.name, digest=image.digest, platform=image.platform,
                                               repository=image.repository, tag=image.tag)),
        properties=[Property(name=f"{PROPERTY_PREFIX}image:platform", value=str(image.platform))]
        + [Property(name=f"{PROPERTY_PREFIX}image:layer", value=d) for d in image.layer_digests])
    bom.metadata.component = root
    bom.metadata.tools.components.add(Component(name="harbourmaster", version=__version__,
                                                type=ComponentType.APPLICATION))
    members: list[Component] = []
    if sbom.distro is not None:
        distro = Component(name=sbom.distro.id, version=sbom.distro.version_id or None,
                           type=ComponentType.OPERATING_SYSTEM, bom_ref=f"os:{sbom.distro.id}",
                           description=sbom.distro.pretty_name or None)
        members.append(distro)
    licences = LicenseFactory()
    seen: set[str] = set()
    for package in sbom.packages:
        component = _component(package, licences)
        if str(component.bom_ref) in seen:  # the same package twice in one file
            continue
        seen.add(str(component.bom_ref))
        members.append(component)
    bom.components.update(members)
    # Bom.register_dependency scans every known dependency per target (quadratic in the package
    # count); the same graph built directly: the image depends on each component, each on nothing.
    direct = [Dependency(ref=c.bom_ref) for c in members]
    bom.dependencies.update([Dependency(ref=root.bom_ref, dependencies=direct),
                             *(Dependency(ref=c.bom_ref) for c in members)])
    for warning in sbom.warnings:
        bom.metadata.properties.add(Property(name=f"{PROPERTY_PREFIX}warning", value=str(warning)))
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


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
