"""The newcomer's path on the real CNCF distribution registry: an SBOM generated from an OCI layout, attached
to the registry image the layout was pushed as, names that image's repository when fetched back; the same
digest pushed under two repositories is listed under both by ``vulns affected``.

skopeo (the independent peer) pushes the layout and reports the digests; the registry password is a canary
no output may contain.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from packageurl import PackageURL
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.supply.sbom import SbomFormat, validate_sbom
from tests.integration.registry_fixtures import PASSWORD, skopeo
from tests.integration.test_sbom_registry import GOVERNANCE, OS_RELEASE
from tests.supply._images import compress, file, tar_bytes
from tests.supply._layouts import add_image, write_index
from tests.supply.advisories._osv import CVSS_HIGH, fixed_at, record, write_dir

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

APP, MIRROR = "newcomer/app", "newcomer/mirror"
PACKAGE = "newcomerpkg"


@dataclass
class Newcomer:
    registry: RunningRegistry
    run: Callable[..., Result]
    layout: Path
    digest: str  # the image's manifest digest, in the layout and in both repositories

    def ref(self, repository: str, tag: str) -> str:
        return f"{self.registry.host}/{repository}:{tag}"


@pytest.fixture
def newcomer(
    registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Newcomer]:
    monkeypatch.setenv("HM_SBOM_LAB_SECRET", PASSWORD)
    doc = tmp_path / "governance.yaml"
    doc.write_text(GOVERNANCE.format(host=registry_basic.host, user=registry_basic.username))
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("init").exit_code == 0
    assert run("apply", "-f", str(doc)).exit_code == 0
    # The layout is called L and its image v1, so a local SBOM of it is named "L:v1".
    layout = tmp_path / "L"
    metadata = f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n"
    layers = [compress(tar_bytes([file("etc/os-release", OS_RELEASE)]), "gzip"),
              compress(tar_bytes([file(f"usr/lib/python3/dist-packages/{PACKAGE}-1.0.dist-info/METADATA",
                                       metadata)]), "gzip")]
    descriptor = add_image(layout, layers)
    write_index(layout, [descriptor], ["v1"])
    digests = set()
    for repository, tag in ((APP, "v1"), (MIRROR, "v2")):
        target = f"docker://{registry_basic.host}/{repository}:{tag}"
        skopeo(registry_basic, "copy", f"oci:{layout}:v1", target)
        digests.add(skopeo(registry_basic, "inspect", "--format", "{{.Digest}}", target).strip())
    assert digests == {descriptor["digest"]}  # pushed unchanged: one digest, two repositories
    yield Newcomer(registry_basic, run, layout, descriptor["digest"])
    for text in outputs:
        assert PASSWORD not in text


def _root(document: str, fmt: SbomFormat) -> tuple[str, PackageURL]:
    doc: dict[str, Any] = json.loads(document)
    if fmt is SbomFormat.CYCLONEDX_JSON:
        root = doc["metadata"]["component"]
        return root["name"], PackageURL.from_string(root["purl"])
    described = {r["relatedSpdxElement"] for r in doc["relationships"]
                 if r["relationshipType"] == "DESCRIBES"}
    image = next(p for p in doc["packages"] if p["SPDXID"] in described)
    purl = next(r["referenceLocator"] for r in image["externalRefs"] if r["referenceType"] == "purl")
    return image["name"], PackageURL.from_string(purl)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_a_layout_sbom_attached_to_a_registry_image_names_its_repository(newcomer: Newcomer, tmp_path: Path,
                                                                         fmt: SbomFormat) -> None:
    host = newcomer.registry.host
    out = tmp_path / "local.json"
    generated = newcomer.run("sbom", "generate", f"oci-layout:{newcomer.layout}:v1", "--format", fmt.value,
                             "-o", str(out), "--json")
    assert generated.exit_code == 0, generated.output
    assert json.loads(generated.stdout)["image"] == {
        "name": "L:v1", "digest": newcomer.digest, "platform": "linux/amd64",
        "layers": json.loads(generated.stdout)["image"]["layers"]}
    local = out.read_text().removesuffix("\n")
    name, purl = _root(local, fmt)
    assert (name, purl.name, purl.qualifiers.get("repository_url")) == ("L:v1", "l", None)  # its source's

    attached = newcomer.run("sbom", "attach", newcomer.ref(APP, "v1"), "--format", fmt.value, "--json")
    assert attached.exit_code == 0, attached.output
    info = json.loads(attached.stdout)
    assert info["generated"] is False  # the stored layout SBOM, not a new one
    assert info["relabelled_from"] == "L:v1" and info["digest"] == newcomer.digest

    fetched = newcomer.run("sbom", "fetch", newcomer.ref(APP, "v1"), "--format", fmt.value)
    assert fetched.exit_code == 0, fetched.output
    validate_sbom(fetched.stdout, fmt)
    name, purl = _root(fetched.stdout, fmt)
    assert name == f"{host}/{APP}:v1"
    assert (purl.type, purl.name, purl.version) == ("oci", "app", newcomer.digest)
    assert purl.qualifiers == {"arch": "amd64", "os": "linux", "repository_url": f"{host}/{APP}", "tag": "v1"}
    assert PACKAGE in fetched.stdout  # the same packages: only the name changed

    # The other repository: the SBOM now in the store names newcomer/app, so it is re-labelled again.
    mirrored = newcomer.run("sbom", "attach", newcomer.ref(MIRROR, "v2"), "--format", fmt.value, "--json")
    assert mirrored.exit_code == 0, mirrored.output
    assert json.loads(mirrored.stdout)["relabelled_from"] == f"{host}/{APP}:v1"
    again = newcomer.run("sbom", "fetch", newcomer.ref(MIRROR, "v2"), "--format", fmt.value)
    assert again.exit_code == 0, again.output
    name, purl = _root(again.stdout, fmt)
    assert (name, purl.qualifiers["repository_url"], purl.qualifiers["tag"]) == (
        f"{host}/{MIRROR}:v2", f"{host}/{MIRROR}", "v2")
    # The first repository's SBOM is still the one naming it.
    first = newcomer.run("sbom", "fetch", newcomer.ref(APP, "v1"), "--format", fmt.value)
    assert _root(first.stdout, fmt)[0] == f"{host}/{APP}:v1"


def test_the_same_digest_under_two_repositories_is_affected_under_both(
    newcomer: Newcomer, tmp_path: Path
) -> None:
    host = newcomer.registry.host
    assert newcomer.run("sbom", "generate", f"oci-layout:{newcomer.layout}:v1").exit_code == 0
    for repository, tag in ((APP, "v1"), (MIRROR, "v2")):
        attached = newcomer.run("sbom", "attach", newcomer.ref(repository, tag))
        assert attached.exit_code == 0, attached.output
    advisories = write_dir(tmp_path / "osv", [record("GHSA-newc-omer-0001", "PyPI", PACKAGE,
                                                     events=fixed_at("2.0"), cvss=CVSS_HIGH)])
    imported = newcomer.run("vulndb", "import", str(advisories), "--json")
    assert imported.exit_code == 0, imported.output

    listed = newcomer.run("vulns", "affected", "--since", "1h", "--json")
    assert listed.exit_code == 0, listed.output
    affected = json.loads(listed.stdout)
    assert [a["image_digest"] for a in affected] == [newcomer.digest]  # once, under both names
    assert affected[0]["repositories"] == [{"repository": f"{host}/{APP}", "tags": ["v1"]},
                                           {"repository": f"{host}/{MIRROR}", "tags": ["v2"]}]
    assert [a["id"] for a in affected[0]["advisories"]] == ["GHSA-newc-omer-0001"]
    table = newcomer.run("vulns", "affected", "--since", "1h")
    assert table.exit_code == 0
    assert f"{host}/{APP}:v1" in table.stdout and f"{host}/{MIRROR}:v2" in table.stdout
