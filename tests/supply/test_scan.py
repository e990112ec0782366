"""The layer walker: whiteouts, opaque directories, overrides, symlinks, hard links, limits."""

from __future__ import annotations

import os

import pytest

from harbourmaster.supply.sbom import LayerError, ScanLimits, default_catalogers, scan_image
from tests.supply._images import FakeImageSource, compress, file, hardlink, image, symlink, tar_bytes

STATUS = """Package: {name}
Status: install ok installed
Version: {version}
Architecture: amd64

"""
OS_RELEASE = 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n'


def dpkg(*pkgs: tuple[str, str]) -> str:
    return "".join(STATUS.format(name=n, version=v) for n, v in pkgs)


def metadata(name: str, version: str) -> str:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n"


def names(sbom) -> set[tuple[str, str, str]]:
    return {(p.type.value, p.name, p.version) for p in sbom.packages}


def scan(source, **kw):
    return scan_image(source, catalogers=default_catalogers(), **kw)


def test_packages_carry_their_layer_and_path() -> None:
    src = image(
        [file("var/lib/dpkg/status", dpkg(("bash", "5.2"))), file("etc/os-release", OS_RELEASE)],
        [file("usr/lib/python3/site-packages/Foo_Bar-1.0.dist-info/METADATA", metadata("Foo_Bar", "1.0"))],
    )
    sbom = scan(src)
    layers = [x.digest for x in src.layers()]
    by_name = {p.name: p for p in sbom.packages}
    assert by_name["bash"].layer_digest == layers[0] and by_name["bash"].path == "/var/lib/dpkg/status"
    assert by_name["bash"].purl == "pkg:deb/debian/bash@5.2?arch=amd64&distro=debian-12"
    assert by_name["Foo_Bar"].layer_digest == layers[1]
    assert by_name["Foo_Bar"].purl == "pkg:pypi/foo-bar@1.0"
    assert sbom.distro is not None and sbom.distro.version_codename == "bookworm"


def test_a_whiteout_in_a_later_layer_removes_the_package() -> None:
    meta = "usr/lib/python3/site-packages/requests-2.0.dist-info/METADATA"
    src = image(
        [file(meta, metadata("requests", "2.0")), file("keep/x-1.dist-info/METADATA", metadata("x", "1"))],
        [file("usr/lib/python3/site-packages/.wh.requests-2.0.dist-info", "")],
    )
    assert names(scan(src)) == {("pypi", "x", "1")}


def test_an_opaque_directory_hides_everything_below_it_from_earlier_layers() -> None:
    src = image(
        [
            file("app/node_modules/left-pad/package.json", '{"name":"left-pad","version":"1.0.0"}'),
            file("other/node_modules/a/package.json", '{"name":"a","version":"1.0.0"}'),
        ],
        [
            file("app/node_modules/.wh..wh..opq", ""),
            file("app/node_modules/right-pad/package.json", '{"name":"right-pad","version":"2.0.0"}'),
        ],
    )
    assert names(scan(src)) == {("npm", "a", "1.0.0"), ("npm", "right-pad", "2.0.0")}


def test_a_file_overwritten_in_a_later_layer_replaces_the_earlier_one() -> None:
    src = image(
        [file("var/lib/dpkg/status", dpkg(("openssl", "3.0.1"), ("curl", "7")))],
        [file("var/lib/dpkg/status", dpkg(("openssl", "3.0.11")))],
    )
    sbom = scan(src)
    assert names(sbom) == {("deb", "openssl", "3.0.11")}
    assert sbom.packages[0].layer_digest == src.layers()[1].digest


def test_a_file_replaced_by_an_unwanted_kind_disappears() -> None:
    src = image(
        [file("var/lib/dpkg/status", dpkg(("openssl", "3.0.1")))],
        [symlink("var/lib/dpkg/status", "/dev/null")],
    )
    assert scan(src).packages == ()


def test_a_directory_replaced_by_a_file_hides_its_contents() -> None:
    src = image([file("srv/lib/x-1.dist-info/METADATA", metadata("x", "1"))], [file("srv/lib", "now a file")])
    assert scan(src).packages == ()


def test_deleting_then_re_adding_in_a_later_layer_reports_the_new_one() -> None:
    status = "var/lib/dpkg/status"
    src = image(
        [file(status, dpkg(("a", "1")))],
        [file("var/lib/dpkg/.wh.status", "")],
        [file(status, dpkg(("b", "2")))],
    )
    assert names(scan(src)) == {("deb", "b", "2")}


def test_os_release_through_a_symlink() -> None:
    src = image(
        [
            file("usr/lib/os-release", "ID=alpine\nVERSION_ID=3.19.1\n"),
            symlink("etc/os-release", "../usr/lib/os-release"),
            file("lib/apk/db/installed", "P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\no:musl\n\n"),
        ]
    )
    sbom = scan(src)
    assert sbom.distro is not None and sbom.distro.id == "alpine"
    assert sbom.packages[0].purl == "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"


def test_a_symlink_loop_is_a_warning_not_a_hang() -> None:
    src = image(
        [
            symlink("etc/os-release", "os-release2"),
            symlink("etc/os-release2", "/etc/os-release"),
            file("var/lib/dpkg/status", dpkg(("a", "1"))),
        ]
    )
    sbom = scan(src)
    assert sbom.distro is None
    assert any("symlink loop" in w.message for w in sbom.warnings)
    assert names(sbom) == {("deb", "a", "1")}


def test_a_hard_link_to_a_missing_target_is_a_warning() -> None:
    src = image([hardlink("var/lib/dpkg/status", "var/lib/dpkg/status-old")])
    sbom = scan(src)
    assert sbom.packages == ()
    assert any("missing target" in w.message and w.path == "/var/lib/dpkg/status" for w in sbom.warnings)


def test_a_hard_link_to_a_cataloged_file_reports_it_at_the_link() -> None:
    meta = metadata("pkg", "1.0")
    src = image(
        [
            file("a/pkg-1.0.dist-info/METADATA", meta),
            hardlink("b/pkg-1.0.dist-info/METADATA", "a/pkg-1.0.dist-info/METADATA"),
        ]
    )
    assert sorted(p.path for p in scan(src).packages) == [
        "/a/pkg-1.0.dist-info/METADATA",
        "/b/pkg-1.0.dist-info/METADATA",
    ]


def test_an_enormous_file_is_skipped_with_a_warning() -> None:
    src = image([file("var/lib/dpkg/status", dpkg(("a", "1")) + "#" * 5000)])
    sbom = scan(src, limits=ScanLimits(max_file_bytes=1024))
    assert sbom.packages == ()
    assert any("exceeds the 1024-byte limit" in w.message for w in sbom.warnings)


def test_a_truncated_layer_is_an_error_even_when_nothing_is_read() -> None:
    raw = tar_bytes([file("blob", os.urandom(100_000)), file("var/lib/dpkg/status", dpkg(("a", "1")))])
    src = FakeImageSource([compress(raw[:50_000], "none")], verify=False)
    with pytest.raises(LayerError, match="truncated"):
        scan(src)


def test_a_malformed_database_is_a_warning_and_the_scan_goes_on() -> None:
    src = image(
        [file("app/node_modules/x/package.json", "{not json"), file("var/lib/dpkg/status", dpkg(("a", "1")))]
    )
    sbom = scan(src)
    assert names(sbom) == {("deb", "a", "1")}
    assert any("not valid JSON" in w.message for w in sbom.warnings)


def test_progress_sees_every_layer_and_every_byte() -> None:
    src = image([file("a", "x" * 1000)], [file("b", "y")])
    seen: dict[int, int] = {}

    class Progress:
        def start_layer(self, index, layer):
            seen[index] = 0

        def advance(self, index, n):
            seen[index] += n

        def finish_layer(self, index):
            pass

    scan(src, progress=Progress())
    assert seen == {i: layer.size for i, layer in enumerate(src.layers())}


def test_distroless_status_d_entries() -> None:
    stanza = "Package: {0}\nVersion: {1}\nArchitecture: amd64\nSource: {2}\n"
    src = image(
        [
            file(
                "var/lib/dpkg/status.d/base-files", stanza.format("base-files", "12.4+deb12u5", "base-files")
            ),
            file("var/lib/dpkg/status.d/libssl3", stanza.format("libssl3", "3.0.11-1~deb12u2", "openssl")),
            file("var/lib/dpkg/status.d/libssl3.md5sums", "d41d8cd98f00b204e9800998ecf8427e  usr/lib/x\n"),
            file("etc/os-release", OS_RELEASE),
        ]
    )
    sbom = scan(src)
    assert names(sbom) == {("deb", "base-files", "12.4+deb12u5"), ("deb", "libssl3", "3.0.11-1~deb12u2")}
    ssl = next(p for p in sbom.packages if p.name == "libssl3")
    assert ssl.path == "/var/lib/dpkg/status.d/libssl3" and ssl.source_package == "openssl"


def test_a_package_without_a_valid_purl_is_a_warning() -> None:
    src = image(
        [
            file("app/node_modules/@scope/x/package.json", '{"name": "@scope/", "version": "1.0.0"}'),
            file("app/node_modules/ok/package.json", '{"name": "ok", "version": "1.0.0"}'),
        ]
    )
    sbom = scan(src)
    assert names(sbom) == {("npm", "ok", "1.0.0")}
    assert any("no valid purl" in w.message for w in sbom.warnings)
