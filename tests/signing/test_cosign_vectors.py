"""The simple-signing vectors made by cosign, containers/image and sigstore-rs: what must verify
verifies, what must fail fails, each with the reason PROVENANCE.md gives."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from harbourmaster.signing.keys import load_public_key
from harbourmaster.signing.oci import ANNOTATION_SIGNATURE, TagSignature
from harbourmaster.signing.payload import build_payload, parse_payload
from harbourmaster.signing.verify import TrustedKey, check_tag_signature
from tests.signing._vectors import CONTAINERS_IMAGE, SIGSTORE_RS


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _trusted(path: Path, name: str = "trusted") -> TrustedKey:
    return TrustedKey(name, load_public_key(path.read_bytes(), source=path.name))


def _layer(directory: Path) -> TagSignature:
    payload = (directory / "payload.json").read_bytes()
    return TagSignature(
        layer_digest="sha256:" + hashlib.sha256(payload).hexdigest(),
        payload=payload,
        signature=(directory / "signature.b64").read_text(),
    )


def _sigstore_json_layer(path: Path) -> TagSignature:
    """containers/image's on-disk form of one signature-manifest layer: 0x00 'sigstore-json\\n' + JSON."""
    raw = path.read_bytes()
    prefix = b"\x00sigstore-json\n"
    assert raw.startswith(prefix)
    doc = json.loads(raw[len(prefix) :])
    payload = base64.b64decode(doc["payload"])
    return TagSignature(
        layer_digest="sha256:" + hashlib.sha256(payload).hexdigest(),
        payload=payload,
        signature=doc["annotations"][ANNOTATION_SIGNATURE],
        annotations=doc["annotations"],
    )


VALID = CONTAINERS_IMAGE / "cosign-valid"
KEY_REKOR = CONTAINERS_IMAGE / "cosign-key-rekor-valid"
FULCIO = CONTAINERS_IMAGE / "cosign-fulcio-rekor-valid"


@pytest.mark.parametrize(
    ("directory", "key"),
    [
        (VALID, VALID / "cosign.pub"),
        (KEY_REKOR, KEY_REKOR / "cosign2.pub"),
        (FULCIO, FULCIO / "cert.pem"),  # the keyless signature checks with its certificate's key
    ],
)
def test_containers_image_signatures_verify_for_their_image(directory: Path, key: Path) -> None:
    for signature in (_layer(directory), _sigstore_json_layer(directory / "signature-1.sigstore-json")):
        check = check_tag_signature(
            signature, [_trusted(key, "ci")], image_digest=_digest(directory / "manifest.json")
        )
        assert check.verified, check.reason
        assert check.signer == "ci"
        assert check.key_fingerprint is not None and check.key_fingerprint.startswith("sha256:")


def test_a_signature_checks_only_with_its_own_key() -> None:
    check = check_tag_signature(
        _layer(VALID),
        [_trusted(KEY_REKOR / "cosign2.pub", "other")],
        image_digest=_digest(VALID / "manifest.json"),
    )
    assert not check.verified
    assert "does not verify with any trusted key" in check.reason and "other" in check.reason
    both = [_trusted(KEY_REKOR / "cosign2.pub", "other"), _trusted(VALID / "cosign.pub", "right")]
    assert (
        check_tag_signature(_layer(VALID), both, image_digest=_digest(VALID / "manifest.json")).signer
        == "right"
    )


def test_a_signature_for_another_manifest_fails_on_the_digest() -> None:
    modified = CONTAINERS_IMAGE / "cosign-modified-manifest_fail" / "manifest.json"
    check = check_tag_signature(
        _layer(VALID), [_trusted(VALID / "cosign.pub")], image_digest=_digest(modified)
    )
    assert not check.verified
    assert "copied from another image" in check.reason
    assert check.signer == "trusted"  # the key signed it, but for another image


def test_a_signature_by_an_unknown_key_fails_with_either_key() -> None:
    unknown = _sigstore_json_layer(CONTAINERS_IMAGE / "cosign-unknown-key_fail" / "signature-1.sigstore-json")
    assert unknown.payload == (VALID / "payload.json").read_bytes()
    keys = [_trusted(VALID / "cosign.pub", "a"), _trusted(KEY_REKOR / "cosign2.pub", "b")]
    check = check_tag_signature(unknown, keys, image_digest=_digest(VALID / "manifest.json"))
    assert not check.verified and "a:" in check.reason and "b:" in check.reason


def test_sigstore_rs_payloads_verify_and_any_byte_change_fails() -> None:
    for directory, key in (
        (SIGSTORE_RS / "keyed", SIGSTORE_RS / "keyed" / "cosign.pub"),
        (SIGSTORE_RS / "keyless-2021", SIGSTORE_RS / "keyless-2021" / "cert.pem"),
    ):
        layer = _layer(directory)
        digest = parse_payload(layer.payload, source="vector").image_digest
        assert check_tag_signature(layer, [_trusted(key)], image_digest=digest).verified
        pretty = json.dumps(json.loads(layer.payload), indent=2).encode()
        spaced = layer.payload + b" "
        for changed in (pretty, spaced):
            altered = TagSignature(
                layer_digest=layer.layer_digest, payload=changed, signature=layer.signature
            )
            check = check_tag_signature(altered, [_trusted(key)], image_digest=digest)
            assert not check.verified and "over these exact bytes" in check.reason


def test_our_payload_bytes_equal_cosigns_for_the_same_image() -> None:
    # cosign writes the compact payload with "optional":null; ours is byte-identical.
    payload = (VALID / "payload.json").read_bytes()
    parsed = parse_payload(payload, source="vector")
    assert (
        build_payload(docker_reference=parsed.docker_reference, image_digest=parsed.image_digest) == payload
    )
    keyed = (SIGSTORE_RS / "keyed" / "payload.json").read_bytes()
    parsed = parse_payload(keyed, source="vector")
    assert build_payload(docker_reference=parsed.docker_reference, image_digest=parsed.image_digest) == keyed


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("", "has no"),
        ("not base64!", "not base64"),
        (base64.b64encode(b"\x30\x45\x02").decode(), "not an ASN.1 DER ECDSA signature"),
        (base64.b64encode(b"A" * 5000).decode(), "too long"),
    ],
)
def test_truncated_or_malformed_signatures_are_refused_with_a_reason(signature: str, reason: str) -> None:
    layer = _layer(VALID)
    bad = TagSignature(layer_digest=layer.layer_digest, payload=layer.payload, signature=signature)
    check = check_tag_signature(
        bad, [_trusted(VALID / "cosign.pub")], image_digest=_digest(VALID / "manifest.json")
    )
    assert not check.verified
    assert reason in check.reason


def test_a_truncated_der_signature_fails() -> None:
    layer = _layer(VALID)
    raw = base64.b64decode(layer.signature)
    cut = TagSignature(
        layer_digest=layer.layer_digest, payload=layer.payload, signature=base64.b64encode(raw[:-3]).decode()
    )
    check = check_tag_signature(
        cut, [_trusted(VALID / "cosign.pub")], image_digest=_digest(VALID / "manifest.json")
    )
    assert not check.verified and "DER" in check.reason


def test_annotation_constraints_are_checked_against_the_payload() -> None:
    from harbourmaster.signing.keys import generate_private_key, public_key_pem
    from harbourmaster.signing.signatures import sign_bytes

    key = generate_private_key()
    digest = "sha256:" + "ab" * 32
    payload = build_payload(
        docker_reference="r.example/app", image_digest=digest, annotations={"env": "prod", "git": "abc"}
    )
    layer = TagSignature(
        layer_digest="sha256:" + hashlib.sha256(payload).hexdigest(),
        payload=payload,
        signature=base64.b64encode(sign_bytes(key, payload)).decode(),
    )
    trusted = [TrustedKey("k", load_public_key(public_key_pem(key), source="k"))]
    ok = check_tag_signature(layer, trusted, image_digest=digest, annotations={"env": "prod"})
    assert ok.verified and ok.annotations == {"env": "prod", "git": "abc"}
    wrong = check_tag_signature(layer, trusted, image_digest=digest, annotations={"env": "dev"})
    assert not wrong.verified and "'env' is 'prod', not 'dev'" in wrong.reason
    missing = check_tag_signature(layer, trusted, image_digest=digest, annotations={"team": "x"})
    assert not missing.verified and "'team' is required" in missing.reason


def test_a_key_of_the_wrong_type_does_not_verify_and_says_so() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    for key in (
        rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key(),
        ed25519.Ed25519PrivateKey.generate().public_key(),
    ):
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        check = check_tag_signature(
            _layer(VALID),
            [TrustedKey("other-type", load_public_key(pem, source="k"))],
            image_digest=_digest(VALID / "manifest.json"),
        )
        assert not check.verified and "other-type: the signature does not verify" in check.reason
