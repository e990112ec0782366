"""OCI and Docker media types, digests, and the parsing of manifests and indexes.

Pure functions over bytes: nothing here does I/O.  Parsing is strict where the
distribution spec is strict (digest syntax, descriptor fields) and raises
:class:`ValueError` with the field path; the client wraps that in a
:class:`~harbourmaster.registry.errors.ManifestError` naming registry and repository.

:class:`Digest`, :class:`Platform` and the tag grammar are the domain's
(:mod:`harbourmaster.domain.digest`, :mod:`harbourmaster.domain.platform`,
:mod:`harbourmaster.domain.reference`), re-exported here under their old names;
their errors are :class:`ValueError` subclasses, so the contract above holds.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from harbourmaster.domain.digest import Digest, parse_digest
from harbourmaster.domain.platform import Platform, PlatformError
from harbourmaster.domain.reference import ReferenceError
from harbourmaster.domain.reference import validate_tag as _validate_tag

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "INDEX_MEDIA_TYPES",
    "MANIFEST_ACCEPT",
    "MANIFEST_MEDIA_TYPES",
    "MAX_MANIFEST_BYTES",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_TAR",
    "OCI_MANIFEST",
    "Descriptor",
    "Digest",
    "ImageIndex",
    "ImageManifest",
    "Platform",
    "compute_digest",
    "parse_digest",
    "parse_manifest",
    "referrers_tag",
    "validate_repository",
    "validate_tag",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_MEDIA_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST}) | INDEX_MEDIA_TYPES
MANIFEST_ACCEPT = ", ".join(sorted(MANIFEST_MEDIA_TYPES))

#: The distribution spec lets registries refuse manifests above 4 MiB; we refuse to read more.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# The distribution spec's repository-name grammar.
_REPOSITORY_RE = re.compile(
    r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$"
)


def compute_digest(data: bytes, algorithm: str = "sha256") -> Digest:
    """The digest of ``data`` (``sha256`` unless told otherwise).

    Raises:
        ValueError: ``algorithm`` is not sha256 or sha512 (a
            :class:`~harbourmaster.domain.digest.DigestError`).
    """
    return Digest.of(data, algorithm)


def validate_repository(name: str) -> str:
    """Return ``name`` if it is a valid repository name.

    Raises:
        ValueError: the name breaks the distribution spec's grammar or exceeds 255 characters.
    """
    if len(name) > 255 or not _REPOSITORY_RE.match(name):
        raise ValueError(
            f"repository name {name!r} is not valid (lowercase path components "
            "separated by '/', using [a-z0-9._-])"
        )
    return name


def validate_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid tag.

    Raises:
        ValueError: the tag breaks ``[\\w][\\w.-]{0,127}`` (the domain's tag grammar).
    """
    try:
        return _validate_tag(tag)
    except ReferenceError as exc:
        raise ValueError(f"{exc.message} ([\\w][\\w.-]{{0,127}})") from None


def referrers_tag(digest: Digest) -> str:
    """The tag of the referrers tag schema for ``digest``: ``<alg>-<hex>`` (truncated to 128)."""
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}-{encoded}"[:128]


@dataclass(frozen=True)
class Descriptor:
    """A content descriptor: what a manifest or index points at."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.platform:
            out["platform"] = self.platform.to_oci()
        return out


@dataclass(frozen=True)
class ImageManifest:
    """An OCI image manifest or Docker schema 2 manifest."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def total_size(self) -> int:
        """Config plus layers, in bytes (what a pull transfers, manifest aside)."""
        return self.config.size + sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class ImageIndex:
    """An OCI image index or Docker manifest list (a multi-arch image)."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    annotations: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key} must be a non-empty string")
    return value


def _annotations(obj: dict[str, Any], where: str) -> dict[str, str]:
    value = obj.get("annotations") or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError(f"{where}.annotations must map strings to strings")
    return dict(value)


def _descriptor(obj: Any, where: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise ValueError(f"{where} must be an object")
    media_type = _str(obj, "mediaType", where)
    digest_text = _str(obj, "digest", where)
    assert media_type is not None and digest_text is not None
    try:
        digest = parse_digest(digest_text)
    except ValueError as exc:
        raise ValueError(f"{where}.digest: {exc}") from None
    size = obj.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"{where}.size must be a non-negative integer")
    platform = None
    if obj.get("platform") is not None:
        plat = obj["platform"]
        if not isinstance(plat, dict):
            raise ValueError(f"{where}.platform must be an object")
        try:
            platform = Platform.from_oci(plat, where=f"{where}.platform")
        except PlatformError as exc:
            raise ValueError(exc.message) from None
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        platform=platform,
        artifact_type=_str(obj, "artifactType", where, required=False),
        annotations=_annotations(obj, where),
    )


def parse_manifest(data: bytes, *, content_type: str | None = None) -> ImageManifest | ImageIndex:
    """Parse a manifest or index, cross-checking the declared ``Content-Type`` if given.

    Raises:
        ValueError: oversized, not JSON, an unsupported or inconsistent media type, or
            a malformed field (the message names the field path).
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ValueError(f"manifest is {len(data)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"manifest is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ValueError("manifest must be a JSON object")
    if doc.get("schemaVersion") != 2:
        raise ValueError(f"manifest schemaVersion is {doc.get('schemaVersion')!r}; only 2 is supported")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise ValueError("manifest.mediaType must be a string")
    header_type = content_type.split(";")[0].strip() if content_type else None
    if header_type and header_type not in MANIFEST_MEDIA_TYPES:
        raise ValueError(f"Content-Type {header_type!r} is not a manifest media type")
    if declared and header_type and declared != header_type:
        raise ValueError(f"Content-Type {header_type!r} contradicts the manifest's mediaType {declared!r}")
    media_type = declared or header_type or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise ValueError(f"manifest mediaType {media_type!r} is not supported")
    subject = _descriptor(doc["subject"], "manifest.subject") if doc.get("subject") is not None else None
    annotations = _annotations(doc, "manifest")
    if media_type in INDEX_MEDIA_TYPES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise ValueError("index.manifests must be a list")
        return ImageIndex(
            media_type=media_type,
            subject=subject,
            annotations=annotations,
            manifests=tuple(_descriptor(e, f"index.manifests[{i}]") for i, e in enumerate(entries)),
        )
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ValueError("manifest.layers must be a list")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None and not isinstance(artifact_type, str):
        raise ValueError("manifest.artifactType must be a string")
    return ImageManifest(
        media_type=media_type,
        config=_descriptor(doc.get("config"), "manifest.config"),
        layers=tuple(_descriptor(e, f"manifest.layers[{i}]") for i, e in enumerate(layers)),
        subject=subject,
        artifact_type=artifact_type,
        annotations=annotations,
    )
