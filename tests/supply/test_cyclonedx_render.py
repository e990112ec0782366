"""The CycloneDX writer against cyclonedx-python-lib as an oracle: the same document, and a valid one.

``_library_json`` is the writer harbourmaster used before issue 11, built on the
library's model and ``JsonV1Dot6``; ``to_cyclonedx_json`` now writes the JSON
itself.  Both are parsed and compared whole, with the two values that differ on
every run (``serialNumber`` and ``metadata.timestamp``) set aside.  The library's
collections are sorted sets, and the writer reproduces their order, so lists are
compared in order rather than as sorted copies: a change in ordering fails here.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packageurl import PackageURL

from harbourmaster import __version__
from harbourmaster.supply.sbom import (
    Distro,
    ImageInfo,
    Package,
    PackageType,
    Platform,
    Sbom,
    ScanWarning,
    default_catalogers,
    scan_image,
)
from harbourmaster.supply.sbom.cyclonedx import PROPERTY_PREFIX, to_cyclonedx_json, validate_cyclonedx
from harbourmaster.supply.sbom.purls import image_purl
from tests.services.test_sboms import sample
from tests.supply._images import file, image
from tests.supply.test_formats import SBOM as FORMATS_SBOM
from tests.supply.test_scan import OS_RELEASE, dpkg, metadata

# --- the oracle: the library-based writer, as it was in src before issue 11 -------------------


def _bom_ref(package: Package) -> str:
    where = hashlib.sha256(f"{package.layer_digest}\0{package.path}".encode()).hexdigest()[:12]
    return f"{package.purl}#{where}"


def _library_licences(declared: tuple[str, ...],
                      factory: LicenseFactory) -> list[LicenseExpression | DisjunctiveLicense]:
    made = [factory.make_from_string(x) for x in declared]
    expressions = [x for x in made if isinstance(x, LicenseExpression)]
    return [expressions[0]] if expressions and len(made) > 1 else made


def _library_component(package: Package, licences: LicenseFactory) -> Component:
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
        licenses=_library_licences(package.licenses, licences) or None,
        properties=properties,
        evidence=ComponentEvidence(occurrences=[Occurrence(location=package.path)]))


def _library_json(sbom: Sbom) -> str:
    img = sbom.image
    # Without the old writer's indexed ``register_dependency``: it only made the stock method
    # faster, and the stock library is the more independent oracle.
    bom = Bom()
    root = Component(
        name=img.name, version=img.digest, type=ComponentType.CONTAINER, bom_ref=f"image:{img.digest}",
        purl=PackageURL.from_string(image_purl(name=img.name, digest=img.digest, platform=img.platform,
                                               repository=img.repository, tag=img.tag)),
        properties=[Property(name=f"{PROPERTY_PREFIX}image:platform", value=str(img.platform))]
        + [Property(name=f"{PROPERTY_PREFIX}image:layer", value=d) for d in img.layer_digests])
    bom.metadata.component = root
    bom.metadata.tools.components.add(Component(name="harbourmaster", version=__version__,
                                                type=ComponentType.APPLICATION))
    members: list[Component] = []
    if sbom.distro is not None:
        members.append(Component(name=sbom.distro.id, version=sbom.distro.version_id or None,
                                 type=ComponentType.OPERATING_SYSTEM, bom_ref=f"os:{sbom.distro.id}",
                                 description=sbom.distro.pretty_name or None))
    licences = LicenseFactory()
    seen: set[str] = set()
    for package in sbom.packages:
        component = _library_component(package, licences)
        if str(component.bom_ref) in seen:
            continue
        seen.add(str(component.bom_ref))
        members.append(component)
    bom.components.update(members)
    direct = [Dependency(ref=c.bom_ref) for c in members]
    bom.dependencies.update([Dependency(ref=root.bom_ref, dependencies=direct),
                             *(Dependency(ref=c.bom_ref) for c in members)])
    for warning in sbom.warnings:
        bom.metadata.properties.add(Property(name=f"{PROPERTY_PREFIX}warning", value=str(warning)))
    return str(JsonV1Dot6(bom).output_as_string(indent=2))


# --- the comparison --------------------------------------------------------------------------


def _normalised(document: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(document)
    assert doc["serialNumber"].startswith("urn:uuid:")
    assert doc["metadata"]["timestamp"]
    doc["serialNumber"] = "urn:uuid:x"
    doc["metadata"]["timestamp"] = "t"
    return doc


def assert_same_as_library(sbom: Sbom) -> dict[str, Any]:
    ours = to_cyclonedx_json(sbom)
    assert _normalised(ours) == _normalised(_library_json(sbom))
    validate_cyclonedx(ours)
    return json.loads(ours)


# --- the SBOMs -------------------------------------------------------------------------------

LAYER = "sha256:" + "0a" * 32
IMAGE = ImageInfo(name="registry.example/team/app:2", digest="sha256:" + "cd" * 32,
                  platform=Platform(os="linux", architecture="amd64"),
                  # A layer repeated: properties are a set, so it is listed once.
                  layer_digests=(LAYER, "sha256:" + "0b" * 32, LAYER),
                  repository="registry.example/team/app", tag="2")

# One package of each purl type, with licences of every kind the factory tells apart: SPDX ids
# (in the list's case and not), expressions, free text, several at once, repeats.
EVERY_TYPE = (
    Package(name="libc6", version="2.36-9", type=PackageType.DEB, arch="amd64",
            purl="pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12&upstream=glibc",
            path="/var/lib/dpkg/status", layer_digest=LAYER, source_package="glibc", source_version="2.36-9",
            licenses=("LGPL-2.1", "gpl-2.0+", "GPL-2.0+", "public-domain", "BSD")),
    Package(name="musl", version="1.2.4-r2", type=PackageType.APK, arch="x86_64",
            purl="pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19",
            path="/lib/apk/db/installed", layer_digest=LAYER, source_package="musl", licenses=("MIT",)),
    Package(name="bash", version="5.1.8-6.el9", type=PackageType.RPM, arch="x86_64",
            purl="pkg:rpm/redhat/bash@5.1.8-6.el9?arch=x86_64&epoch=1&distro=rhel-9",
            path="/var/lib/rpm/rpmdb.sqlite", layer_digest=LAYER, source_version="5.1.8-6.el9",
            licenses=("GPLv3+",)),
    Package(name="Foo_Bar", version="1.0", type=PackageType.PYPI, purl="pkg:pypi/foo-bar@1.0",
            path="/site/Foo_Bar-1.0.dist-info/METADATA", layer_digest=LAYER,
            licenses=("Apache-2.0 AND (MIT OR BSD-3-Clause)", "MIT", "Some Custom Licence v2")),
    Package(name="lodash", version="4.17.21", type=PackageType.NPM, purl="pkg:npm/%40types/lodash@4.17.21",
            path="/app/node_modules/@types/lodash/package.json", layer_digest=LAYER,
            licenses=("mit", "MIT")),
    Package(name="left-pad", version="1.3.0", type=PackageType.NPM, purl="pkg:npm/left-pad@1.3.0",
            path="/app/node_modules/left-pad/package.json", layer_digest=LAYER, licenses=("WTFPL OR MIT",)),
    Package(name="golang.org/x/net", version="v0.17.0", type=PackageType.GOLANG,
            purl="pkg:golang/golang.org/x/net@v0.17.0", path="/usr/local/bin/app", layer_digest=LAYER,
            licenses=("BSD-3-Clause", "BSD-3-Clause")),
    Package(name="stdlib", version="", type=PackageType.GOLANG, purl="pkg:golang/stdlib",
            path="/usr/local/bin/app", layer_digest=LAYER),
    Package(name="guava", version="32.1.2-jre", type=PackageType.MAVEN,
            purl="pkg:maven/com.google.guava/guava@32.1.2-jre", path="/app/lib/guava.jar", layer_digest=LAYER,
            licenses=("The Apache Software License, Version 2.0", "Apache-2.0")),
    Package(name="nameless", version="", type=PackageType.MAVEN, purl="pkg:maven/nameless",
            path="/app/lib/nameless.jar", layer_digest=LAYER),
    Package(name="rack", version="3.0.8", type=PackageType.GEM, purl="pkg:gem/rack@3.0.8",
            path="/usr/lib/ruby/gems/3.1.0/specifications/rack-3.0.8.gemspec", layer_digest=LAYER,
            licenses=("Ruby", "GPL-2.0-only WITH Classpath-exception-2.0", "(MIT)")),
)
DUPLICATED = EVERY_TYPE[0]  # the same package at the same place twice: one component

SBOMS = {
    "services-sample": sample(),
    "formats-sample": FORMATS_SBOM,
    "every-type": Sbom(
        image=IMAGE, packages=(*EVERY_TYPE, DUPLICATED),
        distro=Distro(id="debian", version_id="12", version_codename="bookworm", pretty_name="Debian 12"),
        warnings=(ScanWarning(message="unreadable", layer_digest=LAYER, path="/x"), ScanWarning(message="b"),
                  ScanWarning(message="b"), ScanWarning(message="a"))),
    "distro-without-version": Sbom(image=IMAGE, packages=EVERY_TYPE[:2], distro=Distro(id="wolfi")),
    "empty": Sbom(image=IMAGE, packages=()),
    "only-a-distro": Sbom(image=IMAGE, packages=(), distro=Distro(id="alpine", version_id="3.19")),
}


@pytest.mark.parametrize("name", list(SBOMS))
def test_the_document_is_the_librarys(name: str) -> None:
    assert_same_as_library(SBOMS[name])


def test_a_scanned_imgwith_this_machines_packages() -> None:
    # Real licence strings: this machine's dpkg database and the METADATA of every installed distribution.
    site = Path(sys.prefix) / "lib"
    members = [file(str(path.relative_to(site.parent)), path.read_bytes())
               for path in sorted(site.glob("python3*/site-packages/*.dist-info/METADATA"))]
    status = Path("/var/lib/dpkg/status")
    base = [file("etc/os-release", OS_RELEASE),
            file("var/lib/dpkg/status", status.read_bytes() if status.exists() else dpkg(("bash", "5.2")))]
    source = image(base, [*members, file("srv/a-1.0.dist-info/METADATA", metadata("a", "1.0"))])
    sbom = scan_image(source, catalogers=default_catalogers())
    assert len(sbom.packages) > 10
    doc = assert_same_as_library(sbom)
    kinds = {next(iter(li)) for c in doc["components"] for li in c.get("licenses", ())}
    assert kinds >= {"license", "expression"}


def test_licences_are_classified_as_the_library_factory_does() -> None:
    doc = assert_same_as_library(SBOMS["every-type"])
    licences = {c["name"]: c.get("licenses") for c in doc["components"]}
    assert licences["libc6"] == [{"license": {"id": "GPL-2.0+"}}, {"license": {"id": "LGPL-2.1"}},
                                 {"license": {"name": "BSD"}}, {"license": {"name": "public-domain"}}]
    assert licences["Foo_Bar"] == [{"expression": "Apache-2.0 AND (MIT OR BSD-3-Clause)"}]
    assert licences["lodash"] == [{"license": {"id": "MIT"}}]
    assert licences["rack"] == [{"expression": "GPL-2.0-only WITH Classpath-exception-2.0"}]
    assert licences["stdlib"] is None


def test_ordering_is_deterministic() -> None:
    shuffled = Sbom(image=IMAGE, packages=tuple(reversed(EVERY_TYPE)), distro=Distro(id="debian"))
    forward = Sbom(image=IMAGE, packages=EVERY_TYPE, distro=Distro(id="debian"))
    assert _normalised(to_cyclonedx_json(shuffled)) == _normalised(to_cyclonedx_json(forward))


# --- random packages -------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_LICENCE = st.one_of(
    st.sampled_from(["MIT", "mit", "Apache-2.0", "GPL-2.0+", "GPL-2.0-or-later", "BSD-3-Clause",
                     "MIT OR Apache-2.0", "(MIT AND BSD-2-Clause)", "LGPL-2.1-only WITH GCC-exception-3.1",
                     "LicenseRef-custom", "BSD", "Public Domain", "GPLv2+", "mit or apache-2.0"]),
    _TEXT.filter(str.strip),
)


@st.composite
def _packages(draw: st.DrawFn) -> Package:
    kind = draw(st.sampled_from(list(PackageType)))
    name = draw(st.from_regex(r"[a-z][a-z0-9.+_-]{0,10}", fullmatch=True))
    version = draw(st.one_of(st.just(""), st.from_regex(r"[0-9][0-9a-z.:~+-]{0,8}", fullmatch=True)))
    namespace = draw(st.one_of(st.none(), st.from_regex(r"@?[a-z][a-z0-9.-]{0,6}", fullmatch=True)))
    purl = PackageURL(type=kind.value, namespace=namespace, name=name, version=version or None).to_string()
    return Package(name=name, version=version, type=kind, purl=str(purl),
                   path=draw(st.sampled_from(["/a", "/b/c", "/var/lib/dpkg/status"])),
                   layer_digest=draw(st.sampled_from([LAYER, "sha256:" + "0b" * 32])),
                   arch=draw(st.sampled_from(["", "amd64"])), source_package=draw(_TEXT),
                   source_version=draw(_TEXT), licenses=tuple(draw(st.lists(_LICENCE, max_size=4))))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packages=st.lists(_packages(), max_size=8),
       distro=st.one_of(st.none(), st.builds(Distro, id=st.sampled_from(["debian", "alpine"]),
                                             version_id=st.sampled_from(["", "12"]), pretty_name=_TEXT)),
       warnings=st.lists(_TEXT.map(lambda m: ScanWarning(message=m)), max_size=3))
def test_random_sboms_match_the_library(packages: Iterable[Package], distro: Distro | None,
                                        warnings: list[ScanWarning]) -> None:
    assert_same_as_library(Sbom(image=IMAGE, packages=tuple(packages), distro=distro,
                                warnings=tuple(warnings)))
