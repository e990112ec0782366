"""cosign's classic signature layout in a registry: the ``sha256-<hex>.sig`` tag.

The signatures of image ``repo@sha256:<hex>`` live in the same repository, in
the OCI image manifest tagged ``sha256-<hex>.sig``: one layer per signature, of
media type ``application/vnd.dev.cosign.simplesigning.v1+json``, whose blob is
the simple-signing payload and whose ``dev.cosignproject.cosign/signature``
annotation is the base64 signature over the blob's exact bytes.  Keyless
signatures also carry the certificate, its chain and the Rekor bundle as
annotations.  The config is the image config go-containerregistry writes for
such an image (one ``diff_id`` and one history entry per layer).

A new signature is appended to the manifest, never replacing the ones there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from harbourmaster.registry import Descriptor, ImageManifest, RegistryClient
from harbourmaster.registry.errors import NotFoundInRegistry
from harbourmaster.registry.media import OCI_MANIFEST, compute_digest
from harbourmaster.signing.interface import SignatureFormatError
from harbourmaster.signing.payload import MAX_PAYLOAD_BYTES

__all__ = [
    "ANNOTATION_BUNDLE",
    "ANNOTATION_CERTIFICATE",
    "ANNOTATION_CHAIN",
    "ANNOTATION_SIGNATURE",
    "MAX_SIGNATURES",
    "MAX_SIGNATURE_PAYLOADS_BYTES",
    "SIMPLE_SIGNING_MEDIA_TYPE",
    "TagSignature",
    "append_tag_signature",
    "build_signature_manifest",
    "read_tag_signatures",
    "signature_tag",
]

SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
ANNOTATION_SIGNATURE = "dev.cosignproject.cosign/signature"
ANNOTATION_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANNOTATION_CHAIN = "dev.sigstore.cosign/chain"
ANNOTATION_BUNDLE = "dev.sigstore.cosign/bundle"
#: Signatures read from one ``.sig`` manifest: an image with more is refused, not half-checked.
MAX_SIGNATURES = 256
#: The payload bytes read for one image, all signatures together (a cosign payload is a few hundred
#: bytes): a manifest declaring more is refused before anything is downloaded.
MAX_SIGNATURE_PAYLOADS_BYTES = 4 * 1024 * 1024
_ZERO_TIME = "0001-01-01T00:00:00Z"


def signature_tag(image_digest: str) -> str:
    """The tag holding the classic signatures of ``image_digest``: ``sha256-<hex>.sig``."""
    algorithm, _, hex_part = image_digest.partition(":")
    return f"{algorithm}-{hex_part}.sig"


@dataclass(frozen=True, kw_only=True)
class TagSignature:
    """One signature layer of a ``.sig`` manifest, read back: the payload's exact bytes, its annotations."""

    layer_digest: str
    payload: bytes = field(repr=False)
    signature: str
    certificate: str | None = None
    chain: str | None = None
    rekor_bundle: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Layer:
    digest: str
    size: int
    annotations: dict[str, str]


def _config(layers: list[_Layer]) -> bytes:
    document = {
        "architecture": "",
        "created": _ZERO_TIME,
        "history": [{"created": _ZERO_TIME} for _ in layers],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
        "config": {},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def build_signature_manifest(layers: list[_Layer]) -> tuple[bytes, bytes]:
    """The config blob and the manifest bytes of a ``.sig`` image with ``layers``."""
    config = _config(layers)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": compute_digest(config)},
        "layers": [
            {
                "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
                "size": layer.size,
                "digest": layer.digest,
                "annotations": layer.annotations,
            }
            for layer in layers
        ],
    }
    return config, json.dumps(manifest, separators=(",", ":")).encode()


async def _current_layers(client: RegistryClient, repository: str, tag: str) -> list[_Layer]:
    try:
        fetched = await client.get_manifest(repository, tag)
    except NotFoundInRegistry:
        return []
    manifest = fetched.parsed
    if not isinstance(manifest, ImageManifest):
        raise SignatureFormatError(
            f"{repository}:{tag} is an index, not a cosign signature manifest; not appending to it"
        )
    return [_Layer(d.digest, d.size, dict(d.annotations)) for d in manifest.layers]


async def append_tag_signature(
    client: RegistryClient,
    repository: str,
    *,
    image_digest: str,
    payload: bytes,
    signature_b64: str,
    annotations: dict[str, str] | None = None,
) -> str:
    """Add one signature to the ``.sig`` manifest of ``image_digest`` (created if absent); returns
    the new manifest's digest.  A signature already there (same payload and signature) is not
    added twice.

    Raises:
        SignatureFormatError: the tag holds something that is not a signature manifest, or
            already holds :data:`MAX_SIGNATURES`.
        RegistryError: the registry refused a blob or the manifest.
    """
    tag = signature_tag(image_digest)
    layers = await _current_layers(client, repository, tag)
    layer_digest = compute_digest(payload)
    wanted = {ANNOTATION_SIGNATURE: signature_b64, **(annotations or {})}
    if not any(
        layer.digest == layer_digest and layer.annotations.get(ANNOTATION_SIGNATURE) == signature_b64
        for layer in layers
    ):
        if len(layers) >= MAX_SIGNATURES:
            raise SignatureFormatError(
                f"{repository}:{tag} already holds {len(layers)} signatures, the most "
                "harbourmaster reads; not adding another"
            )
        await client.upload_blob(repository, payload)
        layers.append(_Layer(layer_digest, len(payload), wanted))
    config, raw = build_signature_manifest(layers)
    await client.upload_blob(repository, config)
    return await client.put_manifest(repository, tag, raw, media_type=OCI_MANIFEST)


def _layer_signature(descriptor: Descriptor, payload: bytes) -> TagSignature:
    notes = dict(descriptor.annotations)
    return TagSignature(
        layer_digest=descriptor.digest,
        payload=payload,
        signature=notes.get(ANNOTATION_SIGNATURE, ""),
        certificate=notes.get(ANNOTATION_CERTIFICATE) or None,
        chain=notes.get(ANNOTATION_CHAIN) or None,
        rekor_bundle=notes.get(ANNOTATION_BUNDLE) or None,
        annotations=notes,
    )


async def read_tag_signatures(
    client: RegistryClient, repository: str, image_digest: str
) -> list[TagSignature]:
    """The classic signatures of ``image_digest`` (an empty list when the tag does not exist).

    Only layers of the simple-signing media type are signatures; each payload is read
    digest-verified and bounded.

    Raises:
        SignatureFormatError: the tag is not a signature manifest, has more than
            :data:`MAX_SIGNATURES` layers, or a layer declares a payload over the limit.
        RegistryError: the registry failed (a blob that does not match its digest included).
    """
    tag = signature_tag(image_digest)
    try:
        fetched = await client.get_manifest(repository, tag)
    except NotFoundInRegistry:
        return []
    manifest = fetched.parsed
    where = f"{repository}:{tag}"
    if not isinstance(manifest, ImageManifest):
        raise SignatureFormatError(f"{where} is an index, not a cosign signature manifest")
    if len(manifest.layers) > MAX_SIGNATURES:
        raise SignatureFormatError(
            f"{where} has {len(manifest.layers)} layers, over the {MAX_SIGNATURES} "
            "signatures harbourmaster reads; refused as a whole"
        )
    layers = [d for d in manifest.layers if d.media_type == SIMPLE_SIGNING_MEDIA_TYPE]
    for descriptor in layers:
        if descriptor.size > MAX_PAYLOAD_BYTES:
            raise SignatureFormatError(
                f"{where}: layer {descriptor.digest} declares a {descriptor.size}-byte "
                f"payload, over the {MAX_PAYLOAD_BYTES}-byte limit"
            )
    declared = sum(d.size for d in layers)
    if declared > MAX_SIGNATURE_PAYLOADS_BYTES:
        raise SignatureFormatError(
            f"{where}: its payloads declare {declared} bytes in all, over the {MAX_SIGNATURE_PAYLOADS_BYTES}"
            " bytes harbourmaster reads for one image; refused as a whole"
        )
    found: list[TagSignature] = []
    for descriptor in layers:
        payload = await client.read_blob(
            repository, descriptor.digest, expected_size=descriptor.size, max_bytes=MAX_PAYLOAD_BYTES
        )
        found.append(_layer_signature(descriptor, payload))
    return found
