"""A small signed image in a registry, for the benchmarks that verify signatures (verify.py, verdict.py)."""

from __future__ import annotations

import base64
import json
import os

from cryptography.hazmat.primitives.asymmetric import ec

from harbourmaster.registry import RegistryClient
from harbourmaster.registry.media import OCI_MANIFEST, compute_digest
from harbourmaster.signing.oci import append_tag_signature
from harbourmaster.signing.payload import build_payload
from harbourmaster.signing.signatures import sign_bytes


async def push_signed_image(
    client: RegistryClient, host: str, repo: str, key: ec.EllipticCurvePrivateKey
) -> tuple[str, bytes, bytes]:
    """Push ``repo:v1`` (one random 4 KiB layer) and sign its digest with ``key`` in cosign's ``.sig``
    layout; its digest, the signed payload and the signature."""
    layer = os.urandom(4096)
    rootfs = {"type": "layers", "diff_ids": [compute_digest(layer)]}
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": rootfs}).encode()
    for blob in (layer, config):
        await client.upload_blob(repo, blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": compute_digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": compute_digest(layer),
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    digest = await client.put_manifest(repo, "v1", manifest, media_type=OCI_MANIFEST)
    payload = build_payload(docker_reference=f"{host}/{repo}", image_digest=digest)
    signature = sign_bytes(key, payload)
    await append_tag_signature(
        client, repo, image_digest=digest, payload=payload, signature_b64=base64.b64encode(signature).decode()
    )
    return digest, payload, signature
