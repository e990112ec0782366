"""Signatures stored as OCI 1.1 artifacts referring to the image: sigstore bundles (and, read only,
Notation signatures).

A bundle signature is an OCI image manifest::

    artifactType  application/vnd.dev.sigstore.bundle.v0.3+json
    config        the empty descriptor (application/vnd.oci.empty.v1+json, the blob ``{}``)
    layers        [the bundle, media type application/vnd.dev.sigstore.bundle.v0.3+json]
    subject       the signed image manifest
    annotations   dev.sigstore.bundle.content, dev.sigstore.bundle.predicateType, created

pushed by digest, and found through the referrers API or, where the registry has
none (the CNCF distribution registry), the ``sha256-<hex>`` referrers tag that
the registry client maintains.  Reading checks each artifact's subject, its
single layer's media type and size, and reads the blob digest-verified; an
artifact that fails any of that is reported as a signature that failed, with the
reason, never skipped silently.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from harbourmaster.errors import Error
from harbourmaster.registry import Descriptor, ImageManifest, RegistryClient
from harbourmaster.registry.media import OCI_EMPTY, OCI_MANIFEST, compute_digest
from harbourmaster.signing.bundle import BUNDLE_V03, COSIGN_SIGN_PREDICATE, MAX_BUNDLE_BYTES
from harbourmaster.signing.interface import SignatureFormatError
from harbourmaster.signing.oci import MAX_SIGNATURES

__all__ = [
    "MAX_ARTIFACT_BYTES_TOTAL",
    "ArtifactBlob",
    "build_bundle_manifest",
    "push_bundle",
    "read_artifacts",
]

EMPTY_CONFIG = b"{}"


def build_bundle_manifest(*, bundle: bytes, subject: Descriptor, created: dt.datetime) -> bytes:
    """The artifact manifest (exact bytes) carrying ``bundle`` for ``subject``."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": BUNDLE_V03,
        "config": {"mediaType": OCI_EMPTY, "digest": compute_digest(EMPTY_CONFIG), "size": len(EMPTY_CONFIG)},
        "layers": [{"mediaType": BUNDLE_V03, "digest": compute_digest(bundle), "size": len(bundle)}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": COSIGN_SIGN_PREDICATE,
            "org.opencontainers.image.created": created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


async def push_bundle(
    client: RegistryClient, repository: str, *, bundle: bytes, subject: Descriptor, created: dt.datetime
) -> str:
    """Push ``bundle`` as an artifact referring to ``subject``; returns the artifact manifest's digest.

    Raises:
        RegistryError: the registry refused a blob or the manifest.
    """
    await client.upload_blob(repository, EMPTY_CONFIG)
    await client.upload_blob(repository, bundle)
    raw = build_bundle_manifest(bundle=bundle, subject=subject, created=created)
    return await client.put_manifest(repository, compute_digest(raw), raw, media_type=OCI_MANIFEST)


@dataclass(frozen=True, kw_only=True)
class ArtifactBlob:
    """One signature artifact referring to an image: its content, or why it could not be read."""

    artifact_digest: str
    artifact_type: str
    via: str
    content: bytes | None = field(default=None, repr=False)
    problem: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    #: The signature layer's media type (a Notation envelope's says JWS or COSE).
    media_type: str = ""


@dataclass
class _Budget:
    """What is left to read of one image's signature artifacts."""

    total: int
    remaining: int


#: The bytes of signature blobs read for one image, all artifacts of a kind together.
MAX_ARTIFACT_BYTES_TOTAL = 16 * 1024 * 1024


async def _read_one(
    client: RegistryClient,
    repository: str,
    descriptor: Descriptor,
    *,
    subject: str,
    artifact_type: str,
    layer_types: frozenset[str],
    max_bytes: int,
    via: str,
    budget: _Budget,
) -> ArtifactBlob:
    where = f"artifact {descriptor.digest}"

    def problem(text: str) -> ArtifactBlob:
        return ArtifactBlob(
            artifact_digest=descriptor.digest, artifact_type=artifact_type, via=via, problem=text
        )

    try:
        fetched = await client.get_manifest(repository, descriptor.digest)
    except Error as exc:
        return problem(f"{where} cannot be read: {exc.message}")
    manifest = fetched.parsed
    if not isinstance(manifest, ImageManifest):
        return problem(f"{where} is an index, not an artifact manifest")
    if manifest.subject is None or manifest.subject.digest != subject:
        named = manifest.subject.digest if manifest.subject is not None else "no subject"
        return problem(f"{where} refers to {named}, not to {subject}")
    layers = [d for d in manifest.layers if d.media_type in layer_types]
    if len(layers) != 1:
        return problem(f"{where} holds {len(layers)} signature layers; expected exactly one")
    layer = layers[0]
    if layer.size > max_bytes:
        return problem(f"{where}: a {layer.size}-byte signature exceeds the {max_bytes}-byte limit")
    if layer.size > budget.remaining:
        return problem(f"{where}: reading its {layer.size}-byte signature would exceed the "
                       f"{budget.total} bytes harbourmaster reads of one image's signatures")
    budget.remaining -= layer.size
    try:
        content = await client.read_blob(
            repository, layer.digest, expected_size=layer.size, max_bytes=max_bytes
        )
    except Error as exc:
        return problem(f"{where}: its signature blob was refused: {exc.message}")
    return ArtifactBlob(
        artifact_digest=descriptor.digest,
        artifact_type=artifact_type,
        via=via,
        content=content,
        annotations={**manifest.annotations, **layer.annotations},
        media_type=layer.media_type,
    )


async def read_artifacts(
    client: RegistryClient,
    repository: str,
    subject: str,
    *,
    artifact_type: str,
    layer_types: frozenset[str] | None = None,
    max_bytes: int = MAX_BUNDLE_BYTES,
) -> list[ArtifactBlob]:
    """Every artifact of ``artifact_type`` referring to ``subject``, each read or with its problem.

    Raises:
        SignatureFormatError: more than :data:`MAX_SIGNATURES` such artifacts (refused as a whole).
        RegistryError: the referrers lookup itself failed.
    """
    found = await client.referrers(repository, subject, artifact_type=artifact_type)
    descriptors = [d for d in found.descriptors if (d.artifact_type or artifact_type) == artifact_type]
    if len(descriptors) > MAX_SIGNATURES:
        raise SignatureFormatError(
            f"{len(descriptors)} {artifact_type} artifacts refer to {subject}, over the "
            f"{MAX_SIGNATURES} harbourmaster reads; refused as a whole"
        )
    types = layer_types or frozenset({artifact_type})
    budget = _Budget(MAX_ARTIFACT_BYTES_TOTAL, MAX_ARTIFACT_BYTES_TOTAL)
    return [
        await _read_one(
            client,
            repository,
            d,
            subject=subject,
            artifact_type=artifact_type,
            layer_types=types,
            max_bytes=max_bytes,
            via=found.via,
            budget=budget,
        )
        for d in descriptors
    ]
