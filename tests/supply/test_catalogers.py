"""apk, os-release, Python, npm and Ruby catalogers, with PEP 503 checked against `packaging`."""

from __future__ import annotations

import io
import shlex
from importlib import metadata as importlib_metadata
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

from harbourmaster.supply.sbom import FileEntry, ScanLimits
from harbourmaster.supply.sbom.catalogers import NpmCataloger, PythonCataloger, RubyGemCataloger
from harbourmaster.supply.sbom.catalogers.apk import parse_apk_installed
from harbourmaster.supply.sbom.catalogers.osrelease import parse_os_release
from harbourmaster.supply.sbom.catalogers.python import parse_core_metadata
from harbourmaster.supply.sbom.catalogers.ruby import parse_gemspec
from harbourmaster.supply.sbom.purls import normalise_pypi_name

APK_DB = """C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
L:MIT
o:musl
m:Timo Teräs

P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox

V:orphan-without-name

"""


def entry(path: str, *, mode: int = 0o644, symlink: bool = False) -> FileEntry:
    return FileEntry(path=path, size=10, mode=mode, is_symlink=symlink)


def test_apk_database() -> None:
    packages, warnings = parse_apk_installed(APK_DB, path="/lib/apk/db/installed")
    assert [(p.name, p.version, p.arch, p.source_package, p.licenses) for p in packages] == [
        ("musl", "1.2.4-r2", "x86_64", "musl", ("MIT",)),
        ("busybox-binsh", "1.36.1-r15", "x86_64", "busybox", ("GPL-2.0-only",)),
    ]
    assert len(warnings) == 1


@given(
    st.dictionaries(
        st.from_regex(r"[A-Z][A-Z_]{0,10}", fullmatch=True),
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30),
        max_size=6,
    )
)
def test_os_release_round_trips_shell_quoting(values: dict[str, str]) -> None:
    text = "# comment\n" + "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
    parsed = parse_os_release(text)
    assert parsed == {k: " ".join(shlex.split(shlex.quote(v))) for k, v in values.items()}


def test_this_machines_os_release() -> None:
    parsed = parse_os_release(Path("/usr/lib/os-release").read_text())
    assert parsed["ID"] == "debian" and parsed["VERSION_ID"] == "12"


@given(st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True))
def test_pypi_names_normalise_like_packaging(name: str) -> None:
    assert normalise_pypi_name(name) == canonicalize_name(name)


def test_python_metadata_of_every_installed_distribution_matches_importlib() -> None:
    checked = 0
    for dist in importlib_metadata.distributions():
        text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
        if text is None:
            continue
        found = parse_core_metadata(text, path="/x")
        assert found is not None
        assert (found.name, found.version) == (dist.metadata["Name"], dist.version)
        checked += 1
    assert checked > 20


def test_python_licences_prefer_expression_then_short_field_then_classifiers() -> None:
    expr = parse_core_metadata(
        "Name: a\nVersion: 1\nLicense-Expression: MIT OR Apache-2.0\nLicense: x\n", path="/p"
    )
    long_text = (
        "Name: b\nVersion: 1\nLicense: "
        + "x" * 300
        + "\nClassifier: License :: OSI Approved :: BSD License\n"
    )
    assert expr is not None and expr.licenses == ("MIT OR Apache-2.0",)
    classified = parse_core_metadata(long_text, path="/p")
    assert classified is not None and classified.licenses == ("BSD License",)
    assert parse_core_metadata("Name: c\n", path="/p") is None


def test_python_wants_only_metadata_files() -> None:
    cat = PythonCataloger()
    assert cat.wants(entry("/usr/lib/python3/dist-packages/x-1.dist-info/METADATA"))
    assert cat.wants(entry("/usr/lib/python3/dist-packages/x-1.egg-info/PKG-INFO"))
    assert cat.wants(entry("/usr/lib/python3/dist-packages/x-1.egg-info"))
    assert not cat.wants(entry("/usr/lib/python3/dist-packages/x-1.dist-info/RECORD"))


def test_npm_only_real_packages_in_node_modules() -> None:
    cat = NpmCataloger()
    assert cat.wants(entry("/app/node_modules/left-pad/package.json"))
    assert cat.wants(entry("/app/node_modules/@babel/core/package.json"))
    assert cat.wants(entry("/app/node_modules/a/node_modules/b/package.json"))
    assert not cat.wants(entry("/app/package.json"))
    assert not cat.wants(entry("/app/node_modules/left-pad/lib/package.json"))
    assert not cat.wants(entry("/app/node_modules/.bin/package.json"))
    assert not cat.wants(entry("/app/node_modules/@babel/package.json"))


def test_npm_scoped_package_and_licence_forms() -> None:
    doc = b'{"name":"@babel/core","version":"7.1.0","license":{"type":"MIT"}}'
    found = NpmCataloger().catalog(
        entry("/n/node_modules/@babel/core/package.json"), io.BytesIO(doc), limits=ScanLimits()
    )
    (pkg,) = found.packages
    assert (pkg.namespace, pkg.name, pkg.version, pkg.licenses) == ("@babel", "core", "7.1.0", ("MIT",))


GEMSPEC = """# -*- encoding: utf-8 -*-
# stub: rake 13.0.6 ruby lib

Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.0.6"
  s.licenses = ["MIT".freeze, "Ruby".freeze]
  s.summary = "Rake is a Make-like program implemented in Ruby".freeze
end
"""


def test_ruby_gemspec() -> None:
    found = parse_gemspec(GEMSPEC, path="/usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec")
    assert found is not None
    assert (found.name, found.version, found.licenses) == ("rake", "13.0.6", ("MIT", "Ruby"))
    cat = RubyGemCataloger()
    assert cat.wants(entry("/usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec"))
    assert not cat.wants(entry("/src/rake.gemspec"))
    assert parse_gemspec("Gem::Specification.new do |s|\n  s.name = name\nend\n", path="/x") is None
