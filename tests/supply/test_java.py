"""Java archives: Debian's real jars, nested archives, depth and size bounds."""

from __future__ import annotations

import io
import subprocess
import zipfile
from pathlib import Path

import pytest

from harbourmaster.supply.sbom import FileEntry, ScanLimits
from harbourmaster.supply.sbom.catalogers.java import JavaArchiveCataloger, parse_manifest, parse_properties
from tests.supply._tools import ensure_file

JAR = Path("/usr/share/java/commons-lang3.jar")


def catalog(data: bytes, path: str = "/app/app.war", limits: ScanLimits | None = None):
    return JavaArchiveCataloger().catalog(
        FileEntry(path=path, size=len(data), mode=0o644), io.BytesIO(data), limits=limits or ScanLimits()
    )


def zip_of(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def debian_jar() -> bytes:
    return ensure_file(JAR, "libcommons-lang3-java").read_bytes()


def test_a_debian_jar_matches_its_debian_package_version(debian_jar: bytes) -> None:
    upstream = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libcommons-lang3-java"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("-")[0]
    (pkg,) = catalog(debian_jar, path=str(JAR)).packages
    assert (pkg.namespace, pkg.name, pkg.version) == ("org.apache.commons", "commons-lang3", upstream)


def test_nested_jars_in_a_war_are_found_with_their_location(debian_jar: bytes) -> None:
    inner = zip_of({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\nImplementation-Version: 0.4\n\n"})
    war = zip_of(
        {
            "WEB-INF/lib/commons-lang3.jar": debian_jar,
            "WEB-INF/lib/tiny-lib-0.4.jar": inner,
            "META-INF/maven/com.example/shop/pom.properties": b"groupId=com.example\nartifactId=shop\n"
            b"version=1.0.0\n",
        }
    )
    found = {(p.namespace, p.name, p.version, p.path) for p in catalog(war).packages}
    assert found == {
        ("com.example", "shop", "1.0.0", "/app/app.war"),
        ("org.apache.commons", "commons-lang3", "3.12.0", "/app/app.war!/WEB-INF/lib/commons-lang3.jar"),
        ("", "tiny-lib", "0.4", "/app/app.war!/WEB-INF/lib/tiny-lib-0.4.jar"),
    }


def test_nesting_deeper_than_the_limit_is_a_warning() -> None:
    archive = zip_of({"META-INF/maven/g/a/pom.properties": b"groupId=g\nartifactId=a\nversion=1\n"})
    for depth in range(4):
        archive = zip_of({f"lib/level{depth}.jar": archive})
    findings = catalog(archive, limits=ScanLimits(max_nested_archive_depth=2))
    assert findings.packages == ()
    assert any("nested deeper than 2" in w for w in findings.warnings)


def test_a_zip_bomb_entry_is_skipped_by_the_budget() -> None:
    bomb = zip_of({"lib/zeros.jar": bytes(20 * 1024 * 1024)})
    findings = catalog(bomb, limits=ScanLimits(max_binary_bytes=4 * 1024 * 1024))
    assert any("exceeds the remaining limit" in w for w in findings.warnings)


def test_a_corrupt_archive_is_a_warning() -> None:
    findings = catalog(b"PK\x03\x04 definitely not a zip")
    assert findings.packages == () and "not a readable zip archive" in findings.warnings[0]


def test_properties_and_manifest_parsing() -> None:
    assert parse_properties("#c\n! c\ngroupId = g\nartifactId:a\nversion 1.0\n") == {
        "groupId": "g",
        "artifactId": "a",
        "version": "1.0",
    }
    manifest = parse_manifest(
        "Manifest-Version: 1.0\nBundle-SymbolicName: org.example.long-na\n me\n\nName: x\nA: b\n"
    )
    assert manifest == {"Manifest-Version": "1.0", "Bundle-SymbolicName": "org.example.long-name"}
