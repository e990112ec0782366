"""Go build info: a binary built here, checked against `go version -m`; the pre-1.18 pointer format."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from harbourmaster.supply.sbom import FileEntry, ScanLimits
from harbourmaster.supply.sbom.catalogers.golang import GoBinaryCataloger, parse_module_text, read_build_info
from tests.components import ensure_binary
from tests.supply._tools import build_go_binary


@pytest.fixture(scope="session")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_go_binary(tmp_path_factory.mktemp("gosrc"))


def catalog(path: Path):
    data = path.read_bytes()
    return GoBinaryCataloger().catalog(
        FileEntry(path="/usr/bin/hello", size=len(data), mode=0o755), io.BytesIO(data), limits=ScanLimits()
    )


def test_modules_match_go_version_m(go_binary: Path) -> None:
    out = subprocess.run(
        [ensure_binary("go", "golang-go"), "version", "-m", str(go_binary)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    oracle_go = out.splitlines()[0].split(": ", 1)[1]
    oracle = {tuple(line.split("\t")[2:4]) for line in out.splitlines() if line.split("\t")[1:2] == ["dep"]}
    findings = catalog(go_binary)
    ours = {(p.name, p.version) for p in findings.packages}
    assert oracle <= ours
    assert ("example.com/greeter", "v1.2.3") in ours
    assert ("example.com/hello", "") in ours  # a main module built from a checkout is "(devel)"
    assert ("stdlib", oracle_go) in ours


def test_debian_go_binaries_report_at_least_the_toolchain() -> None:
    binary = Path(ensure_binary("skopeo", "skopeo"))
    findings = catalog(binary)
    assert any(p.name == "stdlib" and p.version.startswith("go") for p in findings.packages)


def test_non_elf_and_non_go_files_find_nothing(tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_bytes(b"#!/bin/sh\necho hi\n" * 100)
    assert catalog(script).packages == ()
    assert catalog(Path("/bin/ls")).packages == ()


def test_replacements_by_modules_and_directories() -> None:
    text = (
        "path\tex.com/app\nmod\tex.com/app\t(devel)\t\ndep\tgithub.com/a/b\tv1.0.0\th1:x=\n"
        "=>\tgithub.com/fork/b\tv1.0.1\th1:y=\ndep\tgithub.com/c/d\tv0.3.0\n=>\t../d\t(devel)\t\n"
    )
    assert [(p.name, p.version) for p in parse_module_text(text, path="/x")] == [
        ("ex.com/app", ""),
        ("github.com/fork/b", "v1.0.1"),
        ("github.com/c/d", "v0.3.0"),
    ]


def _old_format_elf(version: str, modules: bytes) -> bytes:
    """A minimal little-endian ELF64 whose build info uses the pre-Go-1.18 pointer format."""
    base = 0x400000
    header_size, ph_size = 64, 56
    blob_at = header_size + ph_size
    strings_at = blob_at + 32
    version_hdr, modules_hdr = strings_at, strings_at + 16
    data_at = strings_at + 32
    body = bytearray(data_at)
    body[0:4] = b"\x7fELF"
    body[4], body[5], body[6] = 2, 1, 1
    struct.pack_into("<QHH", body, 0x20, header_size, 0, 0)  # e_phoff
    struct.pack_into("<HH", body, 0x36, ph_size, 1)  # e_phentsize, e_phnum
    struct.pack_into("<IIQQQQQQ", body, header_size, 1, 5, 0, base, base, 0, 0, 0)
    body[blob_at : blob_at + 16] = b"\xff Go buildinf:" + bytes([8, 0])
    struct.pack_into("<QQ", body, blob_at + 16, base + version_hdr, base + modules_hdr)
    payload = version.encode() + modules
    struct.pack_into("<QQ", body, version_hdr, base + data_at, len(version))
    struct.pack_into("<QQ", body, modules_hdr, base + data_at + len(version), len(modules))
    body += payload
    struct.pack_into("<Q", body, header_size + 32, len(body))  # p_filesz covers everything
    return bytes(body)


def test_pre_1_18_pointer_format() -> None:
    sentinel_in = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6"
    sentinel_out = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
    modules = "path\tex.com/old\nmod\tex.com/old\tv0.1.0\t\ndep\tgolang.org/x/text\tv0.3.2\th1:z=\n"
    data = _old_format_elf("go1.16.5", sentinel_in + modules.encode() + sentinel_out)
    info = read_build_info(data)
    assert info is not None and info.go_version == "go1.16.5"
    assert [(p.name, p.version) for p in parse_module_text(info.modules, path="/x")] == [
        ("ex.com/old", "v0.1.0"),
        ("golang.org/x/text", "v0.3.2"),
    ]


def test_truncated_build_info_is_a_warning() -> None:
    data = b"\x7fELF" + b"\0" * 100 + b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16 + b"\xff\xff\xff"
    findings = GoBinaryCataloger().catalog(
        FileEntry(path="/b", size=len(data), mode=0o755), io.BytesIO(data), limits=ScanLimits()
    )
    assert findings.packages == () and "malformed" in findings.warnings[0]
