"""Layer streaming: compression by magic bytes, tar members, bad input, bomb limits."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.supply.sbom import LayerError, ScanLimits
from harbourmaster.supply.sbom.layers import (
    Compression,
    LayerReader,
    MemberKind,
    detect_compression,
    normalise_member_path,
)
from tests.supply._images import compress, digest_of, directory, file, hardlink, symlink, tar_bytes

LAYER = [
    directory("etc"),
    file("etc/hostname", "box\n"),
    symlink("etc/link", "hostname"),
    hardlink("etc/hard", "etc/hostname"),
    file("var/.wh.gone", ""),
    file("opt/.wh..wh..opq", ""),
]


def read_all(blob: bytes, *, limits: ScanLimits | None = None, verify: bool = True):
    reader = LayerReader(
        io.BytesIO(blob), layer_digest=digest_of(blob), limits=limits or ScanLimits(), verify_digest=verify
    )
    out = []
    for member in reader:
        content = reader.open_member().read() if member.kind is MemberKind.FILE else None
        out.append((member.kind, member.entry.path, member.target, content))
    return reader, out


@pytest.mark.parametrize("how", ["gzip", "zstd", "none"])
def test_each_compression_is_detected_by_magic_and_read(how: str) -> None:
    blob = compress(tar_bytes(LAYER), how)
    reader, members = read_all(blob)
    assert reader.compression == Compression(how)
    assert (MemberKind.FILE, "/etc/hostname", "", b"box\n") in members
    assert (MemberKind.SYMLINK, "/etc/link", "", None) in members
    assert (MemberKind.HARDLINK, "/etc/hard", "/etc/hostname", None) in members
    assert (MemberKind.WHITEOUT, "/var/.wh.gone", "/var/gone", None) in members
    assert (MemberKind.OPAQUE, "/opt/.wh..wh..opq", "/opt", None) in members


def test_detection_does_not_trust_names() -> None:
    assert detect_compression(b"\x1f\x8b\x08\x00") is Compression.GZIP
    assert detect_compression(b"\x28\xb5\x2f\xfd") is Compression.ZSTD
    assert detect_compression(b"etc/") is Compression.NONE


def test_multi_member_gzip_is_read_to_the_end() -> None:
    raw = tar_bytes(LAYER)
    blob = gzip.compress(raw[:1024]) + gzip.compress(raw[1024:])
    _, members = read_all(blob)
    assert any(path == "/etc/hostname" for _, path, _, _ in members)


def test_a_layer_that_is_not_tar_is_a_clear_error() -> None:
    blob = gzip.compress(b"this is plainly not a tar archive " * 40)
    with pytest.raises(LayerError, match=r"is not a tar archive"):
        read_all(blob)


def test_random_bytes_are_not_tar() -> None:
    blob = os.urandom(4096)
    with pytest.raises(LayerError) as info:
        read_all(blob)
    assert digest_of(blob) in str(info.value)


def test_truncated_gzip_is_a_clear_error() -> None:
    blob = compress(tar_bytes([file("big", os.urandom(200_000))]), "gzip")
    with pytest.raises(LayerError, match=r"truncated|corrupt"):
        read_all(blob[: len(blob) // 2], verify=False)


def test_truncated_zstd_is_a_clear_error() -> None:
    blob = compress(tar_bytes([file("big", os.urandom(200_000))]), "zstd")
    with pytest.raises(LayerError, match="truncated"):
        read_all(blob[: len(blob) // 2], verify=False)


def test_truncated_plain_tar_is_a_clear_error() -> None:
    blob = tar_bytes([file("big", os.urandom(200_000)), file("after", "x")])
    with pytest.raises(LayerError, match="truncated"):
        read_all(blob[:100_000], verify=False)


def test_digest_mismatch_is_an_error() -> None:
    blob = compress(tar_bytes(LAYER), "gzip")
    reader = LayerReader(io.BytesIO(blob), layer_digest="sha256:" + "0" * 64, limits=ScanLimits())
    with pytest.raises(LayerError, match="does not match its digest"):
        list(reader)


def test_decompression_bomb_stops_at_the_ratio() -> None:
    bomb = compress(tar_bytes([file("zeros", bytes(64 * 1024 * 1024))]), "gzip")
    limits = ScanLimits(max_ratio=100, ratio_floor_bytes=1024 * 1024)
    with pytest.raises(LayerError, match=r"compression ratio .* exceeds"):
        read_all(bomb, limits=limits)


def test_decompression_bomb_stops_at_the_size_limit() -> None:
    blob = compress(tar_bytes([file("zeros", bytes(8 * 1024 * 1024))]), "zstd")
    limits = ScanLimits(max_layer_bytes=4 * 1024 * 1024, max_ratio=1e9)
    with pytest.raises(LayerError, match="exceeds the limit of 4194304 bytes"):
        read_all(blob, limits=limits)


def test_path_traversal_and_absolute_names_are_skipped_with_warnings() -> None:
    blob = tar_bytes(
        [
            file("../../etc/passwd", "x"),
            file("/etc/shadow", "y"),
            file("ok", "z"),
            hardlink("evil", "../../outside"),
        ]
    )
    reader, members = read_all(blob)
    assert [path for _, path, _, _ in members] == ["/ok"]
    names = [name for name, _ in reader.warnings]
    assert "../../etc/passwd" in names and "/etc/shadow" in names and "/evil" in names


@given(st.lists(st.sampled_from(["a", "b", ".", "..", "", "c.d"]), max_size=8))
def test_normalised_paths_never_escape_the_root(parts: list[str]) -> None:
    name = "/".join(parts)
    result = normalise_member_path(name)
    if result is None:
        assert ".." in parts or name.startswith("/")
    else:
        assert result.startswith("/")
        assert ".." not in result.split("/")
        assert "//" not in result
        assert os.path.normpath(result) == result or result == "/"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from(["gzip", "zstd", "none"]))
def test_arbitrary_bytes_are_a_layer_error_or_members_never_a_crash(data: bytes, how: str) -> None:
    blob = compress(data, how) if how != "none" else data
    try:
        read_all(blob, verify=False)
    except LayerError as exc:
        assert exc.message.startswith("layer ")


@given(st.binary(min_size=1, max_size=2000), st.integers(min_value=1, max_value=10))
@settings(max_examples=40, deadline=None)
def test_corrupting_a_gzip_layer_is_detected_or_harmless(noise: bytes, where: int) -> None:
    blob = bytearray(compress(tar_bytes(LAYER), "gzip"))
    at = len(blob) * where // 11
    blob[at : at + len(noise)] = noise
    with contextlib.suppress(LayerError):
        read_all(bytes(blob), verify=False)


def test_the_read_ahead_thread_stops_after_an_error() -> None:
    before = threading.active_count()
    for _ in range(5):
        with pytest.raises(LayerError):
            read_all(gzip.compress(b"not a tar" * 100))
        blob = compress(tar_bytes([file("big", os.urandom(3_000_000))]), "gzip")
        reader = LayerReader(io.BytesIO(blob), layer_digest=digest_of(blob), limits=ScanLimits())
        next(iter(reader))  # abandon the layer after its first member
        reader.close()
    assert threading.active_count() == before


def _raw_header(name: bytes, typeflag: bytes, size: int) -> bytes:
    header = bytearray(512)
    header[0 : len(name)] = name
    header[100:108] = b"0000644\0"
    header[124:136] = b"%011o\0" % size
    header[148:156] = b" " * 8
    header[156:157] = typeflag
    header[257:263] = b"ustar\0"
    header[263:265] = b"00"
    checksum = sum(header)
    header[148:156] = b"%06o\0 " % checksum
    return bytes(header)


def test_a_pax_header_claiming_gigabytes_is_refused_not_allocated() -> None:
    blob = _raw_header(b"././@PaxHeader", b"x", 8 * 1024**3) + b"\0" * 4096
    with pytest.raises(LayerError, match="asks to read 8589934592 bytes"):
        read_all(blob, verify=False)


def test_trailing_data_after_the_archive_is_skipped_within_limits() -> None:
    blob = compress(tar_bytes(LAYER) + bytes(5 * 1024 * 1024), "gzip")
    _, members = read_all(blob)
    assert any(path == "/etc/hostname" for _, path, _, _ in members)
