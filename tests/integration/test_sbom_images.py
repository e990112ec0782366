"""SBOMs of real images built with umoci from this machine's package databases.

Checked against independent oracles: dpkg-query for dpkg, importlib.metadata for
Python, `npm ls` for npm, `go version -m` for Go; skopeo re-encodes the same
image as a docker-archive and with zstd layers, and the results must agree.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata as importlib_metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harbourmaster.cli.sbom import app
from harbourmaster.supply.sbom import (
    PackageType,
    Sbom,
    SbomFormat,
    SourceError,
    default_catalogers,
    open_source,
    scan_image,
    validate_sbom,
)
from tests.components import ensure_binary
from tests.supply._tools import Umoci, build_go_binary, ensure_file, npm_node_modules, npm_oracle

pytestmark = pytest.mark.integration

SITE = "opt/venv/lib/python3.11/site-packages"
DEBIAN_SITE = Path("/usr/lib/python3/dist-packages")
PRESENT = {"i", "U", "F", "H", "W", "t"}
DELETED_DIST = "pip"
DELETED_NPM = "semver"
DELETED_DEB = "bash"
RUBY_SPEC_DIRS = [
    Path("/usr/lib/ruby/gems/3.1.0/specifications"),
    Path("/usr/share/rubygems-integration/all/specifications"),
    Path("/usr/lib/x86_64-linux-gnu/rubygems-integration/3.1.0/specifications"),
]


class Built:
    def __init__(
        self, root: Path, umoci: Umoci, final_status: Path, site: Path, node_modules: Path, go_binary: Path
    ) -> None:
        self.root, self.umoci, self.final_status = root, umoci, final_status
        self.site, self.node_modules, self.go_binary = site, node_modules, go_binary


def _without_package(status: str, name: str) -> str:
    stanzas = status.split("\n\n")
    return "\n\n".join(s for s in stanzas if not s.startswith(f"Package: {name}\n"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("sbom-image")
    node_modules = npm_node_modules()
    ensure_file(Path("/usr/share/java/commons-lang3.jar"), "libcommons-lang3-java")
    go_binary = build_go_binary(root / "go")
    umoci = Umoci(root)
    fs = umoci.rootfs
    # layer 1: the OS - this machine's dpkg database and os-release (as Debian links it)
    (fs / "var/lib/dpkg").mkdir(parents=True)
    shutil.copy("/var/lib/dpkg/status", fs / "var/lib/dpkg/status")
    (fs / "usr/lib").mkdir(parents=True)
    shutil.copy("/usr/lib/os-release", fs / "usr/lib/os-release")
    (fs / "etc").mkdir(exist_ok=True)
    (fs / "etc/os-release").symlink_to("../usr/lib/os-release")
    umoci.repack()
    # layer 2: language packages - a virtualenv's metadata, node_modules, a Go binary, jars
    site = fs / SITE
    venv_site = Path(importlib_metadata.distribution("pytest").locate_file(""))
    for meta in list(venv_site.glob("*.dist-info")) + list(venv_site.glob("*.egg-info")):
        shutil.copytree(meta, site / meta.name) if meta.is_dir() else shutil.copy(meta, site / meta.name)
    for meta in list(DEBIAN_SITE.glob("*.dist-info")) + list(DEBIAN_SITE.glob("*.egg-info")):
        target = fs / DEBIAN_SITE.relative_to("/") / meta.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(meta, target) if meta.is_dir() else shutil.copy(meta, target)
    shutil.copytree(node_modules, fs / "srv/app/node_modules", symlinks=True)
    (fs / "usr/local/bin").mkdir(parents=True)
    shutil.copy(go_binary, fs / "usr/local/bin/hello")
    (fs / "usr/share/java").mkdir(parents=True)
    for jar in ("commons-lang3.jar", "commons-io.jar"):
        if Path("/usr/share/java", jar).exists():
            shutil.copy(Path("/usr/share/java", jar), fs / "usr/share/java" / jar, follow_symlinks=True)
    ensure_binary("gem", "ruby")
    for spec_dir in RUBY_SPEC_DIRS:
        if spec_dir.is_dir():
            shutil.copytree(spec_dir, fs / spec_dir.relative_to("/"), dirs_exist_ok=True)
    umoci.repack()
    # layer 3: deletions (umoci writes real whiteouts) and an overwritten dpkg database
    for meta in site.glob(f"{DELETED_DIST}-*.dist-info"):
        shutil.rmtree(meta)
    shutil.rmtree(fs / "srv/app/node_modules" / DELETED_NPM)
    final_status = fs / "var/lib/dpkg/status"
    final_status.write_text(_without_package(final_status.read_text(), DELETED_DEB))
    umoci.repack()
    return Built(root, umoci, final_status, site, node_modules, go_binary)


@pytest.fixture(scope="module")
def sbom(built: Built) -> Sbom:
    with open_source(f"oci-layout:{built.umoci.layout}:v1") as src:
        return scan_image(src, catalogers=default_catalogers())


def of_type(sbom: Sbom, kind: PackageType) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in sbom.packages if p.type is kind}


def test_dpkg_count_equals_dpkg_query(built: Built, sbom: Sbom, tmp_path: Path) -> None:
    admin = tmp_path / "admin"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    shutil.copy(built.final_status, admin / "status")
    out = subprocess.run(
        [
            ensure_binary("dpkg-query", "dpkg"),
            f"--admindir={admin}",
            "-W",
            "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    oracle = {(n, v) for a, n, v in (line.split("\t") for line in out.splitlines()) if a[1] in PRESENT}
    ours = of_type(sbom, PackageType.DEB)
    assert len(ours) == len(oracle) and ours == oracle
    assert DELETED_DEB not in {n for n, _ in ours}
    layers = sbom.image.layer_digests
    assert {p.layer_digest for p in sbom.packages if p.type is PackageType.DEB} == {layers[2]}
    assert sbom.distro is not None and (sbom.distro.id, sbom.distro.version_id) == ("debian", "12")


def test_python_packages_equal_importlib_metadata(built: Built, sbom: Sbom) -> None:
    oracle = {
        (d.metadata["Name"], d.version)
        for d in importlib_metadata.distributions(
            path=[str(built.site), str(built.umoci.rootfs / DEBIAN_SITE.relative_to("/"))]
        )
    }
    assert of_type(sbom, PackageType.PYPI) == oracle
    assert len(oracle) > 40
    deleted = [p for p in sbom.packages if p.name == DELETED_DIST and p.path.startswith(f"/{SITE}/")]
    assert deleted == []  # removed in the top layer: umoci wrote a whiteout for its dist-info
    assert any(p.path.endswith(".egg-info/PKG-INFO") or p.path.endswith(".egg-info") for p in sbom.packages)


def test_npm_packages_equal_npm_ls_minus_the_deleted_one(built: Built, sbom: Sbom) -> None:
    oracle = {(n, v) for n, v in npm_oracle(built.node_modules) if n != DELETED_NPM}
    ours = {
        ((p.purl.split("/")[1].replace("%40", "@") + "/" if "%40" in p.purl else "") + p.name, p.version)
        for p in sbom.packages
        if p.type is PackageType.NPM
    }
    assert ours == oracle and len(ours) >= 10


def test_go_modules_equal_go_version_m(built: Built, sbom: Sbom) -> None:
    out = subprocess.run(
        [ensure_binary("go", "golang-go"), "version", "-m", str(built.go_binary)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    deps = {tuple(line.split("\t")[2:4]) for line in out.splitlines() if line.split("\t")[1:2] == ["dep"]}
    ours = {(p.name, p.version) for p in sbom.packages if p.type is PackageType.GOLANG}
    assert deps <= ours and ("stdlib", out.splitlines()[0].split(": ")[1]) in ours
    assert all(p.path == "/usr/local/bin/hello" for p in sbom.packages if p.type is PackageType.GOLANG)


def test_gems_equal_gem_list(sbom: Sbom) -> None:
    out = subprocess.run(
        [ensure_binary("gem", "ruby"), "list", "--local"], capture_output=True, text=True, check=True
    ).stdout
    oracle = {
        (line.split(" ")[0], v.removeprefix("default: "))
        for line in out.splitlines()
        for v in line.split(" (", 1)[1].rstrip(")").split(", ")
    }
    assert of_type(sbom, PackageType.GEM) == oracle


def test_jars_are_cataloged(sbom: Sbom) -> None:
    assert any(p.purl.startswith("pkg:maven/org.apache.commons/commons-lang3@") for p in sbom.packages)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_cli_output_validates_against_the_official_schema(
    built: Built, fmt: SbomFormat, tmp_path: Path
) -> None:
    out = tmp_path / f"sbom.{fmt.value}"
    result = CliRunner().invoke(
        app,
        ["generate", f"oci-layout:{built.umoci.layout}:v1", "--format", fmt.value, "-o", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    document = out.read_text()
    validate_sbom(document, fmt)
    doc = json.loads(document)
    manifest_digest = json.loads((built.umoci.layout / "index.json").read_text())["manifests"][0]["digest"]
    if fmt is SbomFormat.CYCLONEDX_JSON:
        assert doc["metadata"]["component"]["version"] == manifest_digest
    else:
        assert doc["packages"][0]["versionInfo"] == manifest_digest


def test_skopeo_docker_archive_and_zstd_copies_agree(built: Built, sbom: Sbom, tmp_path: Path) -> None:
    skopeo = ensure_binary("skopeo", "skopeo")
    archive = tmp_path / "image.tar"
    subprocess.run(
        [skopeo, "copy", f"oci:{built.umoci.layout}:v1", f"docker-archive:{archive}:example/app:v1"],
        check=True,
        capture_output=True,
    )
    zstd_layout = tmp_path / "zstd"
    subprocess.run(
        [
            skopeo,
            "copy",
            "--dest-compress-format",
            "zstd",
            f"oci:{built.umoci.layout}:v1",
            f"oci:{zstd_layout}:v1",
        ],
        check=True,
        capture_output=True,
    )
    expected = {(p.type, p.name, p.version, p.path) for p in sbom.packages}
    with open_source(f"docker-archive:{archive}") as src:
        from_archive = scan_image(src, catalogers=default_catalogers())
    with open_source(f"oci-layout:{zstd_layout}") as src:
        from_zstd = scan_image(src, catalogers=default_catalogers())
    assert {(p.type, p.name, p.version, p.path) for p in from_archive.packages} == expected
    assert {(p.type, p.name, p.version, p.path) for p in from_zstd.packages} == expected
    assert from_archive.image.name.endswith("example/app:v1")  # skopeo writes docker.io/example/app:v1
    zstd_manifest = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--raw", f"oci:{zstd_layout}:v1"], check=True, capture_output=True, text=True
        ).stdout
    )
    assert all(layer["mediaType"].endswith("+zstd") for layer in zstd_manifest["layers"])
    config = json.loads(
        subprocess.run(
            [skopeo, "inspect", "--config", f"oci:{built.umoci.layout}:v1"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert list(from_archive.image.layer_digests) == config["rootfs"]["diff_ids"]


def test_a_layout_with_two_tags_needs_one_named(built: Built, tmp_path: Path) -> None:
    copy = tmp_path / "two"
    shutil.copytree(built.umoci.layout, copy)
    subprocess.run(
        [built.umoci.binary, "tag", "--image", f"{copy}:v1", "v2"], check=True, capture_output=True
    )
    with pytest.raises(SourceError, match="holds 2 images") as info:
        open_source(f"oci-layout:{copy}")
    assert {d.split()[0] for d in info.value.details} == {"v1", "v2"}
    with open_source(f"oci-layout:{copy}:v2") as src:
        assert src.image().name.endswith(":v2")
