"""cosign's classic keyless signatures (a ``.sig`` layer with certificate, chain and Rekor bundle
annotations), verified offline against the production trusted root: the containers/image and
sigstore-rs vectors, and every way a part of them can be wrong."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography import x509

from harbourmaster.signing.keyless import KeylessIdentity, TrustRoot, certificate_identity, load_trusted_root
from harbourmaster.signing.legacy_keyless import check_legacy_keyless
from harbourmaster.signing.oci import TagSignature
from harbourmaster.signing.payload import parse_payload
from tests.signing._vectors import BUNDLES, CONTAINERS_IMAGE, SIGSTORE_RS

FULCIO = CONTAINERS_IMAGE / "cosign-fulcio-rekor-valid"
KEYLESS_2021 = SIGSTORE_RS / "keyless-2021"
PRODUCTION = (BUNDLES / "trusted_root.production.json").read_bytes()


def _root(data: bytes = PRODUCTION) -> TrustRoot:
    return load_trusted_root(data, source="production")


def _layer(directory: Path, **changes: str) -> TagSignature:
    fields = {
        "payload": (directory / "payload.json").read_bytes(),
        "signature": (directory / "signature.b64").read_text().strip(),
        "certificate": (directory / "cert.pem").read_text(),
        "chain": (directory / "chain.pem").read_text() if (directory / "chain.pem").exists() else None,
        "rekor_bundle": (directory / "rekor-bundle.json").read_text(),
    }
    fields.update(changes)
    return TagSignature(layer_digest="sha256:" + "0" * 64, **fields)  # type: ignore[arg-type]


def _digest(directory: Path) -> str:
    return parse_payload((directory / "payload.json").read_bytes(), source="vector").image_digest


MITR = [KeylessIdentity("redhat", "https://github.com/login/oauth", r"mitr@redhat\.com")]


def test_the_containers_image_keyless_signature_verifies() -> None:
    check = check_legacy_keyless(_layer(FULCIO), _root(), MITR, image_digest=_digest(FULCIO))
    assert check.verified, check.reason
    assert check.signer == "redhat" and "mitr@redhat.com" in check.reason and "1674247893" in check.reason


def test_the_2021_certificate_passes_every_check_but_names_no_issuer() -> None:
    # Fulcio's first certificates carried no OIDC issuer extension: no identity (which names an
    # issuer) can accept them, though the signature, the log entry and the chain all verify.
    issuer, subjects = certificate_identity(
        x509.load_pem_x509_certificate((KEYLESS_2021 / "cert.pem").read_bytes())
    )
    assert issuer is None and subjects == ["flavio@castelli.me"]
    check = check_legacy_keyless(
        _layer(KEYLESS_2021),
        _root(),
        [KeylessIdentity("any", "https://github.com/login/oauth", ".*")],
        image_digest=_digest(KEYLESS_2021),
    )
    assert not check.verified and "from issuer (none) matches no trusted identity" in check.reason


def _edited_bundle(**payload: object) -> str:
    bundle = json.loads((FULCIO / "rekor-bundle.json").read_text())
    bundle["Payload"].update(payload)
    return json.dumps(bundle)


def _bundle_with_body(edit: dict[str, object]) -> str:
    bundle = json.loads((FULCIO / "rekor-bundle.json").read_text())
    body = json.loads(base64.b64decode(bundle["Payload"]["body"]))
    body["spec"]["data"]["hash"].update(edit)
    bundle["Payload"]["body"] = base64.b64encode(json.dumps(body).encode()).decode()
    return json.dumps(bundle)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"rekor_bundle": _edited_bundle(integratedTime=1674247894)},
            "signed entry timestamp does not verify",
        ),
        ({"rekor_bundle": _edited_bundle(logID="ab" * 32)}, "not in the trusted root"),
        ({"rekor_bundle": "{}"}, "Rekor bundle annotation is malformed"),
        ({"rekor_bundle": ""}, "without a Rekor bundle"),
        ({"rekor_bundle": _bundle_with_body({"value": "00" * 32})}, "signed entry timestamp does not verify"),
        ({"certificate": (KEYLESS_2021 / "cert.pem").read_text()}, "does not verify"),
        ({"payload": (FULCIO / "payload.json").read_bytes() + b" "}, "does not verify"),
        ({"chain": (FULCIO / "cert.pem").read_text()}, "is not issued by"),
        ({"certificate": "not a certificate"}, "not PEM certificates"),
    ],
)
def test_each_part_that_is_wrong_is_named(changes: dict[str, object], reason: str) -> None:
    check = check_legacy_keyless(_layer(FULCIO, **changes), _root(), MITR, image_digest=_digest(FULCIO))  # type: ignore[arg-type]
    assert not check.verified
    assert reason in check.reason


def test_another_identity_or_another_image_fails() -> None:
    other = [KeylessIdentity("someone", "https://github.com/login/oauth", r"someone@example\.com")]
    check = check_legacy_keyless(_layer(FULCIO), _root(), other, image_digest=_digest(FULCIO))
    assert not check.verified and "matches no trusted identity" in check.reason
    check = check_legacy_keyless(_layer(FULCIO), _root(), MITR, image_digest="sha256:" + "1" * 64)
    assert not check.verified and "copied from another image" in check.reason


def test_a_trusted_root_without_the_log_or_the_ca_at_that_time_refuses() -> None:
    staging = (BUNDLES / "trusted_root.staging.json").read_bytes()
    check = check_legacy_keyless(_layer(FULCIO), _root(staging), MITR, image_digest=_digest(FULCIO))
    assert not check.verified and "not in the trusted root" in check.reason
    # The production root with its CAs' validity ending before the signature was logged.
    document = json.loads(PRODUCTION)
    for authority in document["certificateAuthorities"]:
        authority["validFor"]["end"] = "2022-01-01T00:00:00Z"
    check = check_legacy_keyless(
        _layer(FULCIO), _root(json.dumps(document).encode()), MITR, image_digest=_digest(FULCIO)
    )
    assert not check.verified and "does not lead to a Fulcio CA" in check.reason


def test_without_identities_or_a_root_it_is_refused() -> None:
    assert not check_legacy_keyless(_layer(FULCIO), None, MITR, image_digest=_digest(FULCIO)).verified
    check = check_legacy_keyless(_layer(FULCIO), _root(), [], image_digest=_digest(FULCIO))
    assert not check.verified and "no trusted identity" in check.reason


def test_the_trusted_root_holds_the_vectors_rekor_key_and_fulcio_root() -> None:
    # containers/image's rekor.pub and fulcio_v1.crt.pem are the production log key and Fulcio root:
    # the classic keyless checks above trust exactly these, through the trusted root.
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

    document = json.loads(PRODUCTION)
    rekor = load_pem_public_key((CONTAINERS_IMAGE / "rekor.pub").read_bytes())
    der = rekor.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    log_keys = {base64.b64decode(t["publicKey"]["rawBytes"]) for t in document["tlogs"]}
    assert der in log_keys
    bundle = json.loads((FULCIO / "rekor-bundle.json").read_text())
    assert bundle["Payload"]["logID"] == hashlib.sha256(der).hexdigest()
    fulcio = x509.load_pem_x509_certificate((CONTAINERS_IMAGE / "fulcio_v1.crt.pem").read_bytes())
    anchors = {
        base64.b64decode(c["rawBytes"])
        for a in document["certificateAuthorities"]
        for c in a["certChain"]["certificates"]
    }
    assert fulcio.public_bytes(Encoding.DER) in anchors
