"""Signature artifacts found through the referrers tag, on an in-memory registry: each one read
digest-verified and checked, or reported with the reason it was refused — never skipped, never
trusted on the registry's word."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from harbourmaster.registry import RegistryEndpoint, TransportSecurity
from harbourmaster.registry.media import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, compute_digest
from harbourmaster.signing.artifacts import read_artifacts
from harbourmaster.signing.bundle import BUNDLE_V03
from tests.fakes.registry import FakeRegistry, registry_clients

REPO = "team/app"
SUBJECT = "sha256:" + "ab" * 32


def _artifact(layer: bytes, *, subject: str = SUBJECT, layers: int = 1) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": OCI_EMPTY, "digest": compute_digest(b"{}"), "size": 2},
            "layers": [{"mediaType": BUNDLE_V03, "digest": compute_digest(layer), "size": len(layer)}]
            * layers,
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 100},
        }
    ).encode()


def _publish(registry: FakeRegistry, artifacts: list[bytes]) -> None:
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": compute_digest(a),
                "size": len(a),
                "artifactType": BUNDLE_V03,
            }
            for a in artifacts
        ],
    }
    registry.manifests[(REPO, SUBJECT.replace(":", "-"))] = json.dumps(index).encode()
    for artifact in artifacts:
        registry.manifests[(REPO, compute_digest(artifact))] = artifact


def _read(registry: FakeRegistry) -> list[Any]:
    async def go() -> list[Any]:
        endpoint = RegistryEndpoint(registry.host, TransportSecurity(plain_http=True))
        async with registry_clients(registry).client(endpoint, development_only=True) as client:
            return await read_artifacts(client, REPO, SUBJECT, artifact_type=BUNDLE_V03)

    return asyncio.run(go())


def test_each_artifact_is_read_or_refused_with_its_reason() -> None:
    registry = FakeRegistry("reg.example")
    good_layer = b'{"mediaType": "bundle"}'
    swapped_layer = b'{"the": "registry says this is the blob"}'
    good = _artifact(good_layer)
    swapped = _artifact(b"what the manifest names")
    elsewhere = _artifact(good_layer, subject="sha256:" + "cd" * 32)
    doubled = _artifact(good_layer, layers=2)
    registry.blobs[compute_digest(good_layer)] = good_layer
    # A blob whose bytes are not the digest it is served under.
    registry.blobs[compute_digest(b"what the manifest names")] = swapped_layer
    _publish(registry, [good, swapped, elsewhere, doubled])
    found = {a.artifact_digest: a for a in _read(registry)}
    assert (
        found[compute_digest(good)].content == good_layer and found[compute_digest(good)].via == "tag-schema"
    )
    assert found[compute_digest(swapped)].content is None
    assert "signature blob was refused" in (found[compute_digest(swapped)].problem or "")
    assert "refers to sha256:cdcd" in (found[compute_digest(elsewhere)].problem or "")
    assert "holds 2 signature layers" in (found[compute_digest(doubled)].problem or "")


def test_a_referrers_index_naming_too_many_artifacts_is_refused_as_a_whole() -> None:
    import pytest

    from harbourmaster.signing.interface import SignatureFormatError

    registry = FakeRegistry("reg.example")
    _publish(registry, [_artifact(str(i).encode()) for i in range(300)])
    with pytest.raises(SignatureFormatError, match=r"300 .* artifacts refer to"):
        _read(registry)


def _signature_manifest(layers: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": compute_digest(b"{}"),
                "size": 2,
            },
            "layers": layers,
        }
    ).encode()


def _read_tag(registry: FakeRegistry) -> list[Any]:
    from harbourmaster.signing.oci import read_tag_signatures

    async def go() -> list[Any]:
        endpoint = RegistryEndpoint(registry.host, TransportSecurity(plain_http=True))
        async with registry_clients(registry).client(endpoint, development_only=True) as client:
            return await read_tag_signatures(client, REPO, SUBJECT)

    return asyncio.run(go())


def test_a_50_mb_payload_is_refused_before_it_is_fetched() -> None:
    import pytest

    from harbourmaster.signing.interface import SignatureFormatError
    from harbourmaster.signing.oci import SIMPLE_SIGNING_MEDIA_TYPE, signature_tag

    registry = FakeRegistry("reg.example")
    huge = {
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": "sha256:" + "ee" * 32,
        "size": 50 * 1024 * 1024,
        "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="},
    }
    registry.manifests[(REPO, signature_tag(SUBJECT))] = _signature_manifest([huge])
    with pytest.raises(SignatureFormatError, match="52428800-byte payload, over the 1048576-byte limit"):
        _read_tag(registry)
    assert not any("/blobs/" in r.url.path for r in registry.requests)  # nothing of it was downloaded


def test_a_payload_served_under_the_wrong_digest_is_refused() -> None:
    import pytest

    from harbourmaster.registry.errors import BlobIntegrityError
    from harbourmaster.signing.oci import SIMPLE_SIGNING_MEDIA_TYPE, signature_tag

    registry = FakeRegistry("reg.example")
    named = b'{"critical": {}}'
    registry.blobs[compute_digest(named)] = b'{"critical": {"other": 1}}'
    layer = {
        "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
        "digest": compute_digest(named),
        "size": len(named),
        "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="},
    }
    registry.manifests[(REPO, signature_tag(SUBJECT))] = _signature_manifest([layer])
    with pytest.raises(BlobIntegrityError):
        _read_tag(registry)


def test_payloads_declaring_more_than_the_images_budget_are_refused_before_download() -> None:
    import pytest

    from harbourmaster.signing.interface import SignatureFormatError
    from harbourmaster.signing.oci import (
        MAX_SIGNATURE_PAYLOADS_BYTES,
        SIMPLE_SIGNING_MEDIA_TYPE,
        signature_tag,
    )

    registry = FakeRegistry("reg.example")
    each = 1024 * 1024 - 1  # each under the per-payload limit, together over the image's budget
    layers = [
        {
            "mediaType": SIMPLE_SIGNING_MEDIA_TYPE,
            "digest": f"sha256:{i:064x}",
            "size": each,
            "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="},
        }
        for i in range(MAX_SIGNATURE_PAYLOADS_BYTES // each + 1)
    ]
    registry.manifests[(REPO, signature_tag(SUBJECT))] = _signature_manifest(layers)
    with pytest.raises(SignatureFormatError, match="refused as a whole"):
        _read_tag(registry)
    assert not any("/blobs/" in r.url.path for r in registry.requests)


def test_artifacts_past_the_images_read_budget_are_refused_each_with_a_reason() -> None:
    from harbourmaster.signing.artifacts import MAX_ARTIFACT_BYTES_TOTAL
    from harbourmaster.signing.bundle import MAX_BUNDLE_BYTES

    registry = FakeRegistry("reg.example")
    count = MAX_ARTIFACT_BYTES_TOTAL // MAX_BUNDLE_BYTES + 2
    layers = [bytes([65 + i]) * MAX_BUNDLE_BYTES for i in range(count)]
    artifacts = [_artifact(layer) for layer in layers]
    for layer in layers:
        registry.blobs[compute_digest(layer)] = layer
    _publish(registry, artifacts)
    found = _read(registry)
    read = [a for a in found if a.content is not None]
    refused = [a for a in found if a.content is None]
    assert len(read) == MAX_ARTIFACT_BYTES_TOTAL // MAX_BUNDLE_BYTES and len(refused) == 2
    assert all("bytes harbourmaster reads of one image's signatures" in (a.problem or "") for a in refused)
