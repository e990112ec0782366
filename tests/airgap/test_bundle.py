"""The bundle format on its own: placement in parts, pieces that join, and every refusal of the reader."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.airgap import (
    CHECKSUMS,
    MANIFEST,
    AdvisoryArchive,
    BlobEntry,
    BundleInvalid,
    BundleManifest,
    BundleReader,
    BundleTampered,
    BundleWriter,
    parse_bundle_manifest,
    parse_size,
)
from harbourmaster.airgap.bundle import ImageEntry
from harbourmaster.airgap.diff import diff_manifests


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 * 1024**3), ("700MB", 700 * 10**6), ("1048576", 1048576), ("2 MiB", 2 * 1024**2)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "4 GB of data", "-1", "1KiB"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(BundleInvalid, match="--split-size"):
        parse_size(text)


def _write(root: Path, blobs: list[bytes], split: int | None) -> tuple[BundleManifest, bytes]:
    writer = BundleWriter(root, split_size=split)
    entries = []
    for data in blobs:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        plan = writer.place(f"oci/blobs/sha256/{digest[7:]}", len(data))
        sink = writer.sink(plan)
        for start in range(0, len(data), 777):
            sink.write(data[start : start + 777])
        sink.commit()
        entries.append(
            BlobEntry(digest=digest, size=len(data), files=tuple(p for p, _ in plan), repository="r")
        )
    writer.write_file("oci/index.json", b'{"schemaVersion":2,"manifests":[]}')
    manifest = BundleManifest(
        created="2026-11-30T00:00:00+00:00",
        creator="t",
        signer="k",
        advisory_snapshot=None,
        since=None,
        images=(),
        blobs=tuple(entries),
        files=tuple(sorted(writer.files.values(), key=lambda f: f.path)),
    )
    raw = manifest.to_bytes()
    writer.write_top(MANIFEST, raw)
    writer.write_top(CHECKSUMS, writer.checksums(raw))
    return manifest, raw


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=8),
    split=st.one_of(st.none(), st.integers(min_value=64, max_value=3000)),
)
def test_placed_blobs_fit_their_parts_and_join_into_their_digests(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], split: int | None
) -> None:
    root = tmp_path_factory.mktemp("bundle") / "b"
    blobs = [os.urandom(n) for n in sizes]
    _, raw = _write(root, blobs, split)
    parsed = parse_bundle_manifest(raw, source="m")
    assert parsed.to_bytes() == raw
    reader = BundleReader(root)
    reader.verify(parsed, raw)
    for data, entry in zip(blobs, parsed.blobs, strict=True):
        assert b"".join(p.read_bytes() for p in reader.blob_paths(entry)) == data
    if split is not None:
        totals: dict[str, int] = {}
        for f in parsed.files:
            part = f.path.split("/")[0]
            totals[part] = totals.get(part, 0) + f.size
        assert all(total <= max(split, 35) for total in totals.values())  # index.json is 35 bytes
        numbers = [int(p.split("-")[1]) for p in totals]
        assert sorted(numbers) == list(range(1, len(numbers) + 1))


@pytest.fixture
def bundle(tmp_path: Path) -> tuple[Path, BundleManifest, bytes]:
    manifest, raw = _write(tmp_path / "b", [os.urandom(3000), os.urandom(10)], 1024)
    return tmp_path / "b", manifest, raw


def _refusal(root: Path, manifest: BundleManifest, raw: bytes) -> BundleTampered:
    with pytest.raises(BundleTampered) as caught:
        BundleReader(root).verify(manifest, raw)
    return caught.value


def test_an_unknown_file_is_refused(bundle: tuple[Path, BundleManifest, bytes]) -> None:
    root, manifest, raw = bundle
    (root / "part-001" / "notes.txt").write_text("x")
    error = _refusal(root, manifest, raw)
    assert (error.file, error.check) == ("part-001/notes.txt", "file list")


def test_a_missing_piece_is_refused(bundle: tuple[Path, BundleManifest, bytes]) -> None:
    root, manifest, raw = bundle
    piece = manifest.blobs[0].files[1]
    (root / piece).unlink()
    error = _refusal(root, manifest, raw)
    assert (error.file, error.check) == (piece, "file list")
    assert "missing" in error.message


def test_a_changed_piece_is_refused_and_a_swapped_pair_too(
    bundle: tuple[Path, BundleManifest, bytes],
) -> None:
    root, manifest, raw = bundle
    first, second = (root / p for p in manifest.blobs[0].files[:2])
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(bytes([a[0] ^ 1]) + a[1:])
    assert _refusal(root, manifest, raw).check == "sha256"
    first.unlink()
    os.symlink(second, first)
    assert _refusal(root, manifest, raw).check == "file list"  # a symbolic link is no bundle file
    first.unlink()
    first.write_bytes(b)
    second.write_bytes(a)  # the two pieces swapped: each file's sha256 is now another's
    assert _refusal(root, manifest, raw).file in (
        str(manifest.blobs[0].files[0]),
        str(manifest.blobs[0].files[1]),
    )


def test_a_checksums_file_that_disagrees_is_refused(bundle: tuple[Path, BundleManifest, bytes]) -> None:
    root, manifest, raw = bundle
    lines = (root / CHECKSUMS).read_text().splitlines()
    (root / CHECKSUMS).write_text("\n".join(lines[:-1]) + "\n")
    error = _refusal(root, manifest, raw)
    assert error.check == "checksums" and "missing from checksums.sha256" in error.message


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs", "a//b", "manifest.json", "a/./b", "a\\b"])
def test_paths_outside_the_bundle_are_refused(path: str) -> None:
    raw = (
        b'{"format":"harbourmaster.io/airgap-bundle/v1","created":"x","creator":"c","signer":"k",'
        b'"images":[],"blobs":[],"files":[{"path":"'
        + path.replace("\\", "\\\\").encode()
        + b'","sha256":"'
        + b"0" * 64
        + b'","size":1}]}'
    )
    with pytest.raises(BundleInvalid, match="files"):
        parse_bundle_manifest(raw, source="m")


@pytest.mark.parametrize("split", [None, 1024 * 1024])
def test_an_advisory_archive_is_placed_verified_and_joined_again(tmp_path: Path, split: int | None) -> None:
    data = os.urandom(3 * 1024 * 1024 // 2)  # a split of 1 MiB cuts it into pieces
    writer = BundleWriter(tmp_path / "b", split_size=split)
    local = tmp_path / "b" / ".osv.partial"
    local.write_bytes(data)
    sha, files = writer.add_file("advisories/osv-0001.zip", local)
    assert sha == hashlib.sha256(data).hexdigest() and not local.exists()
    assert len(files) == (1 if split is None else 2)
    archive = AdvisoryArchive(
        path="advisories/osv-0001.zip", sha256=sha, size=len(data), records=3, files=files
    )
    manifest = BundleManifest(
        created="2026-11-30T00:00:00+00:00",
        creator="t",
        signer="k",
        advisory_snapshot=4,
        since=None,
        images=(),
        blobs=(),
        advisories=(archive,),
        files=tuple(sorted(writer.files.values(), key=lambda f: f.path)),
    )
    raw = manifest.to_bytes()
    assert parse_bundle_manifest(raw, source="m").advisories == (archive,)
    writer.write_top(MANIFEST, raw)
    writer.write_top(CHECKSUMS, writer.checksums(raw))
    reader = BundleReader(tmp_path / "b")
    reader.verify(manifest, raw)
    (tmp_path / "scratch").mkdir()
    joined = reader.join_archive(archive, tmp_path / "scratch")
    assert joined.read_bytes() == data
    # Changed after it was verified: refused when joined for use.
    victim = tmp_path / "b" / files[-1]
    victim.write_bytes(victim.read_bytes()[:-1] + b"x")
    with pytest.raises(BundleTampered, match=f"{files[0]}: sha256 failed"):
        reader.join_archive(archive, tmp_path / "scratch")
    # An archive naming a file the list does not hold is malformed.
    broken = BundleManifest(
        **{
            **manifest.__dict__,
            "advisories": (archive.__class__(**{**archive.__dict__, "files": ("advisories/x.zip",)}),),
        }
    )
    with pytest.raises(BundleInvalid, match="advisories"):
        parse_bundle_manifest(broken.to_bytes(), source="m")


def test_the_output_directory_must_be_new_or_empty(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    with pytest.raises(BundleInvalid, match="new or empty"):
        BundleWriter(tmp_path)


def _with_images(*images: tuple[str, str, tuple[str, ...]]) -> BundleManifest:
    return BundleManifest(
        created="t",
        creator="c",
        signer="k",
        advisory_snapshot=None,
        since=None,
        blobs=(),
        images=tuple(
            ImageEntry(repository=r, path=r, tags=tags, digest=d, media_type="m", size=1)
            for r, d, tags in images
        ),
    )


def test_diff_names_images_and_tags_added_removed_and_moved() -> None:
    one, two, three = (f"sha256:{c * 64}" for c in "123")
    old = _with_images(("h/app", one, ("v1", "latest")), ("h/lib", two, ("v2",)))
    new = _with_images(("h/app", one, ("v1",)), ("h/app", three, ("v3", "latest")))
    diff = diff_manifests(old, new)
    assert diff.images_added == [f"h/app@{three}"]
    assert diff.images_removed == [f"h/lib@{two}"]
    assert diff.tags_added == ["h/app:v3"] and diff.tags_removed == ["h/lib:v2"]
    assert [(m.tag, m.old, m.new) for m in diff.tags_moved] == [("h/app:latest", one, three)]
