"""The air-gap bundle format (``harbourmaster.io/airgap-bundle/v1``).

A bundle is a directory::

    manifest.json          the approved content manifest (canonical JSON: sorted keys, no spaces)
    manifest.json.sig      cosign sign-blob signature of manifest.json's exact bytes (base64)
    checksums.sha256       ``sha256sum -c`` lines for manifest.json and every file of the list
    oci/oci-layout         an OCI image layout holding every image, its platform manifests and
    oci/index.json         its referrers; index.json names each tag by the annotation
    oci/blobs/sha256/<hex> org.opencontainers.image.ref.name (``<repository>:<tag>``)
    advisories/osv-NNNN.zip  with ``--advisories``: the advisory database as OSV records, in zips of
                           at most 5,000 records each (``vulndb import`` reads each, or the directory)

With a split size every file but the three at the top lives in ``part-NNN/`` (``part-001/oci/...``),
each part at most the split size; a blob larger than what a part has left is cut into
``<hex>.pieceNNN`` files in consecutive parts, joined in order when imported.

``manifest.json`` holds:

``format``            this format's name and version
``created``           when the bundle was written (UTC, ISO 8601)
``creator``           who wrote it (the audit name)
``advisory_snapshot`` the advisory database generation at export (null: none imported)
``signer``            the signing key's name
``since``             ``sha256:<hex>`` of the previous manifest.json for a delta, else null
``images``            per image: source ``repository`` (``host/path``) and ``path``, ``tags``, ``digest``,
                      ``media_type``, ``size``, ``platforms`` (each platform manifest's digest, media type,
                      size, ``os/arch``) and ``referrers`` (signatures, SBOMs, attestations: digest,
                      media type, size, artifact type, subject digest, and ``tag`` for cosign's
                      ``sha256-<hex>.sig`` manifests, which name their image by tag)
``blobs``             every blob in the bundle (manifests included): digest, size, its ``files``
                      (one, or the pieces in order) and the ``repository`` path of the first image holding it
``omitted``           blobs a delta leaves out (they were in the previous bundle): digest, size, and the
                      repository path they were imported to
``advisories``        the OSV zips of the advisory database, in order: each one's ``path`` (as
                      without parts), ``sha256``, ``size``, ``records`` and its ``files`` (one, or
                      its pieces in order); empty when the export had no ``--advisories``
``files``             every file of the bundle but manifest.json, its signature and checksums.sha256,
                      with its sha256 and size, so the signature covers the file list

``advisory_snapshot`` names the advisory database generation the export ran against (and that the
carried advisories, if any, were read at).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from harbourmaster.errors import BadInput, Forbidden

__all__ = [
    "ADVISORIES",
    "CHECKSUMS",
    "FORMAT",
    "MANIFEST",
    "SIGNATURE",
    "AdvisoryArchive",
    "BlobEntry",
    "BundleFile",
    "BundleInvalid",
    "BundleManifest",
    "BundleTampered",
    "ImageEntry",
    "OmittedBlob",
    "PlatformEntry",
    "ReferrerEntry",
    "canonical_json",
    "parse_bundle_manifest",
]

FORMAT: Final = "harbourmaster.io/airgap-bundle/v1"
MANIFEST: Final = "manifest.json"
SIGNATURE: Final = "manifest.json.sig"
CHECKSUMS: Final = "checksums.sha256"
#: Where the advisory database's OSV zips go (``advisories/osv-0001.zip``, ...).
ADVISORIES: Final = "advisories"
#: The three files at the top that the file list does not hold.
TOP_FILES: Final = frozenset({MANIFEST, SIGNATURE, CHECKSUMS})

_DIGEST: Final = re.compile(r"^sha256:[0-9a-f]{64}$")
_HEX: Final = re.compile(r"^[0-9a-f]{64}$")
_PATH_PART: Final = re.compile(r"^[A-Za-z0-9._-]+$")


class BundleInvalid(BadInput):
    """A bundle or its manifest is malformed (not tampering: it could not have been signed like this)."""

    kind = "airgap-bundle-invalid"


class BundleTampered(Forbidden):
    """The bundle does not pass a check: the message names the file and the check that failed."""

    kind = "airgap-bundle-refused"

    def __init__(self, bundle: str, file: str, check: str, reason: str) -> None:
        super().__init__(f"bundle {bundle} refused: {file}: {check} failed: {reason}")
        self.file = file
        self.check = check


def canonical_json(document: Any) -> bytes:
    """The canonical bytes of ``document``: sorted keys, no insignificant space, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, kw_only=True)
class BundleFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True, kw_only=True)
class BlobEntry:
    digest: str
    size: int
    files: tuple[str, ...]
    #: The path of the first image (in the source registry) that holds it.
    repository: str


@dataclass(frozen=True, kw_only=True)
class OmittedBlob:
    digest: str
    size: int
    repository: str


@dataclass(frozen=True, kw_only=True)
class AdvisoryArchive:
    """One OSV zip of the advisory database: its logical ``path``, whole sha256 and size, how many
    records it holds, and the bundle files it is in (one, or its pieces in order)."""

    path: str
    sha256: str
    size: int
    records: int
    files: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class PlatformEntry:
    digest: str
    media_type: str
    size: int
    platform: str


@dataclass(frozen=True, kw_only=True)
class ReferrerEntry:
    digest: str
    media_type: str
    size: int
    subject: str
    artifact_type: str | None = None
    tag: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImageEntry:
    repository: str
    path: str
    tags: tuple[str, ...]
    digest: str
    media_type: str
    size: int
    platforms: tuple[PlatformEntry, ...] = ()
    referrers: tuple[ReferrerEntry, ...] = ()


@dataclass(frozen=True, kw_only=True)
class BundleManifest:
    created: str
    creator: str
    signer: str
    advisory_snapshot: int | None
    since: str | None
    images: tuple[ImageEntry, ...]
    blobs: tuple[BlobEntry, ...]
    omitted: tuple[OmittedBlob, ...] = ()
    advisories: tuple[AdvisoryArchive, ...] = ()
    files: tuple[BundleFile, ...] = ()
    format: str = FORMAT
    _blob_index: dict[str, BlobEntry] = field(default_factory=dict, repr=False, compare=False)

    def blob(self, digest: str) -> BlobEntry | None:
        if not self._blob_index and self.blobs:
            self._blob_index.update({b.digest: b for b in self.blobs})
        return self._blob_index.get(digest)

    def to_json(self) -> dict[str, Any]:
        def plain(obj: Any) -> Any:
            if isinstance(obj, tuple | list):
                return [plain(v) for v in obj]
            if hasattr(obj, "__dataclass_fields__"):
                return {k: plain(getattr(obj, k)) for k in obj.__dataclass_fields__ if not k.startswith("_")}
            return obj

        document: dict[str, Any] = plain(self)
        return document

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())


def _safe_path(text: object, where: str) -> str:
    if not isinstance(text, str) or not text or text.startswith("/") or "\\" in text:
        raise BundleInvalid(f"{where}: not a relative path inside the bundle")
    parts = text.split("/")
    if any(p in ("", ".", "..") or not _PATH_PART.match(p) for p in parts) or text in TOP_FILES:
        raise BundleInvalid(f"{where}: {text!r} is not a path the bundle may hold")
    return text


class _Fields:
    """Typed access to one JSON object of the manifest; every problem names its document path."""

    def __init__(self, obj: object, where: str) -> None:
        if not isinstance(obj, Mapping):
            raise BundleInvalid(f"{where}: must be an object")
        self.obj, self.where = obj, where

    def text(self, key: str, *, optional: bool = False) -> Any:
        value = self.obj.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value:
            raise BundleInvalid(f"{self.where}.{key}: must be a non-empty string")
        return value

    def digest(self, key: str) -> str:
        value = self.text(key)
        if not _DIGEST.match(value):
            raise BundleInvalid(f"{self.where}.{key}: must be a sha256 digest")
        return str(value)

    def number(self, key: str, *, optional: bool = False) -> Any:
        value = self.obj.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BundleInvalid(f"{self.where}.{key}: must be a non-negative integer")
        return value

    def items(self, key: str) -> Sequence[Any]:
        value = self.obj.get(key, [])
        if not isinstance(value, list):
            raise BundleInvalid(f"{self.where}.{key}: must be a list")
        return value


def _referrer(raw: object, where: str) -> ReferrerEntry:
    f = _Fields(raw, where)
    return ReferrerEntry(
        digest=f.digest("digest"),
        media_type=f.text("media_type"),
        size=f.number("size"),
        subject=f.digest("subject"),
        artifact_type=f.text("artifact_type", optional=True),
        tag=f.text("tag", optional=True),
    )


def _image(raw: object, where: str) -> ImageEntry:
    f = _Fields(raw, where)
    tags = f.items("tags")
    if not all(isinstance(t, str) and t for t in tags):
        raise BundleInvalid(f"{where}.tags: must be a list of tags")
    platforms = []
    for i, p in enumerate(f.items("platforms")):
        pf = _Fields(p, f"{where}.platforms[{i}]")
        platforms.append(
            PlatformEntry(
                digest=pf.digest("digest"),
                media_type=pf.text("media_type"),
                size=pf.number("size"),
                platform=pf.text("platform"),
            )
        )
    return ImageEntry(
        repository=f.text("repository"),
        path=f.text("path"),
        tags=tuple(tags),
        digest=f.digest("digest"),
        media_type=f.text("media_type"),
        size=f.number("size"),
        platforms=tuple(platforms),
        referrers=tuple(_referrer(r, f"{where}.referrers[{i}]") for i, r in enumerate(f.items("referrers"))),
    )


def parse_bundle_manifest(raw: bytes, *, source: str) -> BundleManifest:
    """The manifest ``raw`` holds (read only after its signature verified).

    Raises:
        BundleInvalid: not JSON, another format, or a field out of shape (named by its path).
    """
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleInvalid(f"{source}: not JSON ({exc})") from None
    top = _Fields(document, source)
    if document.get("format") != FORMAT:
        raise BundleInvalid(f"{source}: format must be {FORMAT}, not {document.get('format')!r}")
    since = top.text("since", optional=True)
    if since is not None and not _DIGEST.match(since):
        raise BundleInvalid(f"{source}.since: must be a sha256 digest")
    files = []
    for i, entry in enumerate(top.items("files")):
        ff = _Fields(entry, f"{source}.files[{i}]")
        sha = ff.text("sha256")
        if not _HEX.match(sha):
            raise BundleInvalid(f"{source}.files[{i}].sha256: must be 64 hex digits")
        files.append(
            BundleFile(path=_safe_path(ff.obj.get("path"), ff.where), sha256=sha, size=ff.number("size"))
        )
    blobs = []
    for i, entry in enumerate(top.items("blobs")):
        bf = _Fields(entry, f"{source}.blobs[{i}]")
        pieces = tuple(_safe_path(p, f"{bf.where}.files") for p in bf.items("files"))
        if not pieces:
            raise BundleInvalid(f"{bf.where}.files: a blob needs at least one file")
        blobs.append(
            BlobEntry(
                digest=bf.digest("digest"),
                size=bf.number("size"),
                files=pieces,
                repository=bf.text("repository"),
            )
        )
    omitted = []
    for i, entry in enumerate(top.items("omitted")):
        of = _Fields(entry, f"{source}.omitted[{i}]")
        omitted.append(
            OmittedBlob(digest=of.digest("digest"), size=of.number("size"), repository=of.text("repository"))
        )
    advisories = []
    for i, entry in enumerate(top.items("advisories")):
        af = _Fields(entry, f"{source}.advisories[{i}]")
        sha = af.text("sha256")
        if not _HEX.match(sha):
            raise BundleInvalid(f"{af.where}.sha256: must be 64 hex digits")
        pieces = tuple(_safe_path(p, f"{af.where}.files") for p in af.items("files"))
        if not pieces:
            raise BundleInvalid(f"{af.where}.files: an archive needs at least one file")
        advisories.append(
            AdvisoryArchive(
                path=_safe_path(af.obj.get("path"), f"{af.where}.path"),
                sha256=sha,
                size=af.number("size"),
                records=af.number("records"),
                files=pieces,
            )
        )
    listed = {f.path for f in files}
    if len(listed) != len(files):
        raise BundleInvalid(f"{source}.files: a path is listed twice")
    for archive in advisories:
        for path in archive.files:
            if path not in listed:
                raise BundleInvalid(
                    f"{source}.advisories: {archive.path} names {path}, which is not in files"
                )
    for blob in blobs:
        for path in blob.files:
            if path not in listed:
                raise BundleInvalid(f"{source}.blobs: {blob.digest} names {path}, which is not in files")
    return BundleManifest(
        created=top.text("created"),
        creator=top.text("creator"),
        signer=top.text("signer"),
        advisory_snapshot=top.number("advisory_snapshot", optional=True),
        since=since,
        images=tuple(_image(im, f"{source}.images[{i}]") for i, im in enumerate(top.items("images"))),
        blobs=tuple(blobs),
        omitted=tuple(omitted),
        advisories=tuple(advisories),
        files=tuple(files),
    )
