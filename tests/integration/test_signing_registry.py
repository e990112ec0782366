"""cosign's ``.sig`` layout against the real CNCF distribution registry, with independent oracles.

Signatures harbourmaster appends are read back with skopeo (tag name, media types,
the signature annotation) and checked with Debian's ``openssl dgst -verify`` over
the exact payload blob; a signature manifest written by hand in cosign's layout
(from the containers/image vector, made by cosign) is found and verified by
harbourmaster's reader.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harbourmaster.registry.media import OCI_MANIFEST, compute_digest
from harbourmaster.signing.keys import generate_private_key, load_public_key, public_key_pem
from harbourmaster.signing.oci import (
    ANNOTATION_SIGNATURE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    append_tag_signature,
    read_tag_signatures,
    signature_tag,
)
from harbourmaster.signing.payload import build_payload
from harbourmaster.signing.signatures import sign_bytes
from harbourmaster.signing.verify import TrustedKey, check_tag_signature
from tests.integration.registry_fixtures import skopeo, write_image_layout
from tests.signing._openssl import openssl_verifies
from tests.signing._vectors import CONTAINERS_IMAGE

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def _push(registry: RunningRegistry, root: Path, repo: str, seed: str) -> str:
    layout = root / seed
    write_image_layout(layout, seed=seed)
    skopeo(registry, "copy", f"oci:{layout}:v1", f"docker://{registry.host}/{repo}:v1")
    return skopeo(
        registry, "inspect", "--format", "{{.Digest}}", f"docker://{registry.host}/{repo}:v1"
    ).strip()


def test_signatures_we_append_are_cosigns_layout_and_verify_with_openssl(
    tmp_path: Path, registry_basic: RunningRegistry
) -> None:
    repo = f"hmsign/app-{os.urandom(3).hex()}"
    digest = _push(registry_basic, tmp_path, repo, "sign-a")
    keys = [generate_private_key(), generate_private_key()]
    reference = f"{registry_basic.host}/{repo}"

    async def sign_twice() -> list[Any]:
        async with registry_basic.client() as client:
            for index, key in enumerate(keys):
                payload = build_payload(
                    docker_reference=reference, image_digest=digest, annotations={"signer": str(index)}
                )
                signature = base64.b64encode(sign_bytes(key, payload)).decode()
                await append_tag_signature(
                    client, repo, image_digest=digest, payload=payload, signature_b64=signature
                )
                # Appending the same signature again adds nothing.
                await append_tag_signature(
                    client, repo, image_digest=digest, payload=payload, signature_b64=signature
                )
            return await read_tag_signatures(client, repo, digest)

    found = run(sign_twice())
    assert len(found) == 2
    tag = signature_tag(digest)
    assert tag == "sha256-" + digest.removeprefix("sha256:") + ".sig"
    raw = skopeo(registry_basic, "inspect", "--raw", f"docker://{registry_basic.host}/{repo}:{tag}")
    manifest = json.loads(raw)
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    assert [layer["mediaType"] for layer in manifest["layers"]] == [SIMPLE_SIGNING_MEDIA_TYPE] * 2
    config = json.loads(
        skopeo(registry_basic, "inspect", "--raw", "--config", f"docker://{registry_basic.host}/{repo}:{tag}")
    )
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
    for index, (layer, key) in enumerate(zip(manifest["layers"], keys, strict=True)):
        payload = found[index].payload
        assert compute_digest(payload) == layer["digest"]
        assert json.loads(payload)["critical"]["image"]["docker-manifest-digest"] == digest
        assert json.loads(payload)["critical"]["identity"]["docker-reference"] == reference
        signature = base64.b64decode(layer["annotations"][ANNOTATION_SIGNATURE])
        assert openssl_verifies(public_key_pem(key), payload, signature)
        assert not openssl_verifies(public_key_pem(keys[1 - index]), payload, signature)
        trusted = [TrustedKey(f"k{index}", load_public_key(public_key_pem(key), source="k"))]
        check = check_tag_signature(found[index], trusted, image_digest=digest)
        assert check.verified and check.annotations == {"signer": str(index)}


def test_a_signature_manifest_written_in_cosigns_layout_is_found_and_verified(
    tmp_path: Path, registry_basic: RunningRegistry
) -> None:
    # The image the vector signed: its digest is sha256 of the vector's manifest bytes.
    vector = CONTAINERS_IMAGE / "cosign-valid"
    image_manifest = (vector / "manifest.json").read_bytes()
    repo = f"hmsign/vector-{os.urandom(3).hex()}"
    payload = (vector / "payload.json").read_bytes()
    signature = (vector / "signature.b64").read_text().strip()
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [compute_digest(payload)]},
            "config": {},
        }
    ).encode()
    sig_manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(config),
                "digest": compute_digest(config),
            },
            "layers": [
                {
                    "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
                    "size": len(payload),
                    "digest": compute_digest(payload),
                    "annotations": {ANNOTATION_SIGNATURE: signature},
                }
            ],
        },
        indent=2,
    ).encode()

    async def push_and_read() -> tuple[str, list[Any]]:
        async with registry_basic.client() as client:
            for blob in (config, payload):
                await client.upload_blob(repo, blob)
            # The signature manifest is found by the image digest alone; the image itself need not be here.
            digest = compute_digest(image_manifest)
            await client.put_manifest(repo, signature_tag(digest), sig_manifest, media_type=OCI_MANIFEST)
            return digest, await read_tag_signatures(client, repo, digest)

    digest, found = run(push_and_read())
    assert len(found) == 1 and found[0].payload == payload
    trusted = [
        TrustedKey("containers-image", load_public_key((vector / "cosign.pub").read_bytes(), source="k"))
    ]
    assert check_tag_signature(found[0], trusted, image_digest=digest).verified
    # skopeo sees the same layout.
    listed = json.loads(
        skopeo(
            registry_basic,
            "inspect",
            "--raw",
            f"docker://{registry_basic.host}/{repo}:{signature_tag(digest)}",
        )
    )
    assert listed["layers"][0]["annotations"][ANNOTATION_SIGNATURE] == signature
