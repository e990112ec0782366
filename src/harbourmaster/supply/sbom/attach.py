"""SBOMs as OCI artifacts attached to an image: build, push, find and fetch.

An attached SBOM is an OCI image manifest (distribution spec v1.1, "artifacts")::

    artifactType  application/vnd.cyclonedx+json | application/spdx+json
    config        the empty descriptor (application/vnd.oci.empty.v1+json, the blob ``{}``)
    layers        [the SBOM document, with the artifact type as its media type]
    subject       the image manifest the SBOM describes
    annotations   org.opencontainers.image.created, and what the SBOM is about

It is pushed by digest; the registry client maintains the ``sha256-<hex>``
referrers tag where the registry has no referrers API.  Fetching finds the
artifact through the referrers API or that tag, checks that its subject is the
image asked for and that it carries exactly one document of the format's media
type, reads the document (digest-verified) and validates it against the
format's official schema before returning it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from harbourmaster.errors import BadInput, NotFound
from harbourmaster.registry import Descriptor, Digest, ImageManifest, RegistryClient
from harbourmaster.registry.media import OCI_EMPTY, OCI_MANIFEST, compute_digest, referrers_tag
from harbourmaster.supply.sbom.formats import SbomFormat, validate_sbom
from harbourmaster.supply.sbom.interface import SbomError

__all__ = [
    "ANNOTATION_CREATED",
    "ANNOTATION_SBOM_FORMAT",
    "EMPTY_CONFIG",
    "AttachedSbom",
    "AttachedSbomRejected",
    "FetchedSbom",
    "NoSbomAttached",
    "build_sbom_manifest",
    "fetch_sbom",
    "find_sbom",
    "format_of_media_type",
    "push_sbom",
]

ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_SBOM_FORMAT = "io.harbourmaster.sbom.format"
ANNOTATION_TITLE = "org.opencontainers.image.title"
#: The OCI empty descriptor's content: the two bytes ``{}``.
EMPTY_CONFIG = b"{}"
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


class NoSbomAttached(SbomError, NotFound):
    """The image has no attached SBOM of the requested format."""

    kind = "sbom-not-attached"


class AttachedSbomRejected(SbomError, BadInput):
    """An attached SBOM artifact is not what it claims: another subject, a malformed manifest, or a
    document that fails its format's schema."""

    kind = "sbom-attached-rejected"


def format_of_media_type(media_type: str) -> SbomFormat | None:
    """The SBOM format whose artifact media type is ``media_type``, if any."""
    return next((f for f in SbomFormat if f.media_type == media_type), None)


def _created_text(created: dt.datetime | None) -> str:
    when = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_sbom_manifest(*, document: bytes, fmt: SbomFormat, subject: Descriptor,
                        created: dt.datetime | None = None) -> bytes:
    """The artifact manifest (exact bytes) for ``document`` attached to ``subject``."""
    media_type = fmt.media_type
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": media_type,
        "config": {"mediaType": OCI_EMPTY, "digest": compute_digest(EMPTY_CONFIG), "size": len(EMPTY_CONFIG)},
        "layers": [{"mediaType": media_type, "digest": compute_digest(document), "size": len(document),
                    "annotations": {ANNOTATION_TITLE: f"sbom.{fmt.value}.json"}}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {ANNOTATION_CREATED: _created_text(created), ANNOTATION_SBOM_FORMAT: fmt.value},
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


@dataclass(frozen=True, kw_only=True)
class AttachedSbom:
    """Where an SBOM was attached: the artifact's digest, its subject, and the referrers tag used."""

    repository: str
    artifact_digest: Digest
    document_digest: Digest
    subject_digest: Digest
    artifact_type: str
    referrers_tag: str
    via: str  # "api" | "tag-schema"


@dataclass(frozen=True, kw_only=True)
class FetchedSbom:
    """An attached SBOM read back: the document's exact bytes and where they came from."""

    repository: str
    artifact_digest: Digest
    document_digest: Digest
    subject_digest: Digest
    format: SbomFormat
    created: str
    via: str
    document: bytes = field(repr=False)


async def push_sbom(client: RegistryClient, repository: str, *, document: bytes, fmt: SbomFormat,
                    subject: Descriptor, created: dt.datetime | None = None) -> AttachedSbom:
    """Push ``document`` as an SBOM artifact referring to ``subject`` (blobs, then the manifest by digest).

    Raises:
        RegistryError: the registry refused a blob or the manifest.
    """
    await client.upload_blob(repository, EMPTY_CONFIG)
    document_digest = await client.upload_blob(repository, document)
    raw = build_sbom_manifest(document=document, fmt=fmt, subject=subject, created=created)
    digest = await client.put_manifest(repository, compute_digest(raw), raw, media_type=OCI_MANIFEST)
    supported = await client.referrers_supported(repository)
    return AttachedSbom(repository=repository, artifact_digest=digest, document_digest=document_digest,
                        subject_digest=subject.digest, artifact_type=fmt.media_type,
                        referrers_tag=referrers_tag(subject.digest),
                        via="api" if supported else "tag-schema")


async def find_sbom(client: RegistryClient, repository: str, subject: Digest, *,
                    fmt: SbomFormat) -> tuple[Descriptor, str]:
    """The newest SBOM artifact of ``fmt`` referring to ``subject`` (by its created annotation),
    and whether the referrers API or the tag schema listed it.

    Raises:
        NoSbomAttached: none is attached.
        RegistryError: the registry failed.
    """
    found = await client.referrers(repository, subject, artifact_type=fmt.media_type)
    if not found.descriptors:
        raise NoSbomAttached(f"no {fmt.value} SBOM is attached to {repository}@{subject}",
                             details=[f"looked up via the {found.via} (tag {referrers_tag(subject)})"
                                      if found.via == "tag-schema" else "looked up via the referrers API",
                                      "attach one with: harbourmaster sbom attach IMAGE"])
    ordered = sorted(enumerate(found.descriptors),
                     key=lambda item: (item[1].annotations.get(ANNOTATION_CREATED, ""), item[0]))
    return ordered[-1][1], found.via


async def fetch_sbom(client: RegistryClient, repository: str, subject: Digest, *,
                     fmt: SbomFormat) -> FetchedSbom:
    """Find, read and check the SBOM of ``fmt`` attached to ``subject``.

    Raises:
        NoSbomAttached: none is attached.
        AttachedSbomRejected: the artifact's subject is another image, its artifact type or
            document media type is not ``fmt``'s, or the document fails the schema.
        RegistryError: the registry failed (including a blob that does not match its digest).
    """
    where = f"{repository}@{subject}"
    descriptor, via = await find_sbom(client, repository, subject, fmt=fmt)
    fetched = await client.get_manifest(repository, descriptor.digest)
    manifest = fetched.parsed
    artifact = f"SBOM artifact {descriptor.digest} attached to {where}"
    if not isinstance(manifest, ImageManifest):
        raise AttachedSbomRejected(f"{artifact} is an index, not an artifact manifest")
    if manifest.subject is None or manifest.subject.digest != subject:
        named = manifest.subject.digest if manifest.subject is not None else "no subject"
        raise AttachedSbomRejected(f"{artifact} refers to {named}, not to {subject}; not used")
    artifact_type = manifest.artifact_type or manifest.config.media_type
    if artifact_type != fmt.media_type:
        raise AttachedSbomRejected(f"{artifact} has artifact type {artifact_type!r}, not {fmt.media_type!r}")
    layers = [d for d in manifest.layers if d.media_type == fmt.media_type]
    if len(layers) != 1:
        raise AttachedSbomRejected(f"{artifact} holds {len(layers)} documents of type {fmt.media_type}; "
                                   "expected exactly one")
    layer = layers[0]
    if layer.size > MAX_DOCUMENT_BYTES:
        raise AttachedSbomRejected(f"{artifact}: document of {layer.size} bytes exceeds the "
                                   f"{MAX_DOCUMENT_BYTES}-byte limit")
    document = await client.read_blob(repository, layer.digest, expected_size=layer.size,
                                      max_bytes=MAX_DOCUMENT_BYTES)
    try:
        text = document.decode("utf-8")
        validate_sbom(text, fmt)
    except UnicodeDecodeError as exc:
        raise AttachedSbomRejected(f"{artifact}: document is not UTF-8 text ({exc.reason})") from None
    except SbomError as exc:
        raise AttachedSbomRejected(f"{artifact}: document fails the {fmt.value} schema",
                                   details=[exc.message, *exc.details]) from exc
    return FetchedSbom(repository=repository, artifact_digest=fetched.digest, document_digest=layer.digest,
                       subject_digest=subject, format=fmt,
                       created=manifest.annotations.get(ANNOTATION_CREATED, ""), via=via, document=document)
