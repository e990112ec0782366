"""Sigstore bundles: cosign's newer signature form, made with a key and checked with a key.

A bundle signature of an image (``cosign sign --new-bundle-format``) is a
sigstore bundle v0.3 (``application/vnd.dev.sigstore.bundle.v0.3+json``) holding a
DSSE envelope over an in-toto statement whose subject is the image digest::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "registry.example/team/app", "digest": {"sha256": "<hex>"}}],
     "predicateType": "https://sigstore.dev/cosign/sign/v1", "predicate": {}}

The DSSE signature is over the pre-authentication encoding
``DSSEv1 <len type> <type> <len body> <body>``.  A key-signed bundle names its key
only by a hint (``verificationMaterial.publicKey.hint``, base64 SHA-256 of the
key's DER); the trusted keys decide.  Transparency-log entries in a key-signed
bundle are not relied on: the trusted key is the trust anchor (as with
``cosign verify --key``).  Keyless bundles (a Fulcio certificate) are checked by
:mod:`harbourmaster.signing.keyless`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization

from harbourmaster.signing.interface import SignatureFormatError, SigningError, VerificationFailed
from harbourmaster.signing.keys import PrivateKey
from harbourmaster.signing.signatures import sign_bytes
from harbourmaster.signing.verify import SignatureCheck, TrustedKey, signing_key, verified_by

__all__ = [
    "BUNDLE_MEDIA_TYPES",
    "BUNDLE_V03",
    "COSIGN_SIGN_PREDICATE",
    "IN_TOTO_PAYLOAD_TYPE",
    "MAX_BUNDLE_BYTES",
    "ParsedBundle",
    "build_image_bundle",
    "check_key_blob_bundle",
    "check_key_bundle",
    "check_subject",
    "pae",
    "parse_bundle",
    "statement_digests",
]

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_TYPES = frozenset(
    {
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        BUNDLE_V03,
    }
)
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
IN_TOTO_STATEMENTS = frozenset({"https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1"})
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
#: A bundle with a certificate chain and log entries is a few kB; 4 MiB bounds a hostile one.
MAX_BUNDLE_BYTES = 4 * 1024 * 1024


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``payload`` of ``payload_type``: what is signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _key_hint(key: PrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def build_image_bundle(key: PrivateKey, *, repository: str, image_digest: str) -> bytes:
    """A key-signed sigstore bundle v0.3 whose DSSE statement's subject is ``repository`` at
    ``image_digest``."""
    algorithm, _, hex_digest = image_digest.partition(":")
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": repository, "digest": {algorithm: hex_digest}}],
        "predicateType": COSIGN_SIGN_PREDICATE,
        "predicate": {},
    }
    payload = json.dumps(statement, separators=(",", ":")).encode()
    signature = sign_bytes(key, pae(IN_TOTO_PAYLOAD_TYPE, payload))
    bundle = {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {"publicKey": {"hint": _key_hint(key)}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": IN_TOTO_PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return json.dumps(bundle, separators=(",", ":")).encode()


@dataclass(frozen=True, kw_only=True)
class ParsedBundle:
    """What a verifier reads from a bundle before any check."""

    media_type: str
    keyless: bool
    document: dict[str, Any] = field(repr=False)

    @property
    def dsse(self) -> dict[str, Any] | None:
        envelope = self.document.get("dsseEnvelope")
        return envelope if isinstance(envelope, dict) else None


def parse_bundle(data: bytes, *, source: str) -> ParsedBundle:
    """Read a bundle's JSON and its media type.

    Raises:
        SignatureFormatError: too large, not JSON, an unknown bundle version, or neither a DSSE
            envelope nor a message signature.
    """
    if len(data) > MAX_BUNDLE_BYTES:
        raise SignatureFormatError(
            f"{source}: a bundle of {len(data)} bytes exceeds the {MAX_BUNDLE_BYTES}-byte limit"
        )
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise SignatureFormatError(f"{source}: the bundle is not JSON") from None
    if not isinstance(document, dict):
        raise SignatureFormatError(f"{source}: the bundle is not a JSON object")
    media_type = document.get("mediaType")
    if media_type not in BUNDLE_MEDIA_TYPES:
        raise SignatureFormatError(f"{source}: unknown bundle media type {media_type!r}")
    material = document.get("verificationMaterial")
    if not isinstance(material, dict):
        raise SignatureFormatError(f"{source}: the bundle has no verificationMaterial")
    if not isinstance(document.get("dsseEnvelope"), dict) and not isinstance(
        document.get("messageSignature"), dict
    ):
        raise SignatureFormatError(
            f"{source}: the bundle holds neither a DSSE envelope nor a message signature"
        )
    keyless = "certificate" in material or "x509CertificateChain" in material
    return ParsedBundle(media_type=str(media_type), keyless=keyless, document=document)


def _b64(value: object, *, what: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise SignatureFormatError(f"{source}: the bundle's {what} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureFormatError(f"{source}: the bundle's {what} is not base64") from None


def statement_digests(payload: bytes, *, source: str) -> list[tuple[str, str]]:
    """The (name, ``algorithm:hex``) subjects of an in-toto statement.

    Raises:
        SignatureFormatError: not an in-toto statement.
    """
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SignatureFormatError(f"{source}: the DSSE payload is not JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") not in IN_TOTO_STATEMENTS:
        raise SignatureFormatError(f"{source}: the DSSE payload is not an in-toto statement")
    subjects = statement.get("subject")
    if not isinstance(subjects, list):
        raise SignatureFormatError(f"{source}: the in-toto statement has no subject list")
    found: list[tuple[str, str]] = []
    for subject in subjects:
        if isinstance(subject, dict) and isinstance(subject.get("digest"), dict):
            for algorithm, value in subject["digest"].items():
                if isinstance(value, str):
                    found.append((str(subject.get("name", "")), f"{algorithm}:{value}"))
    return found


def check_subject(payload: bytes, *, image_digest: str, source: str) -> str:
    """The subject name of the statement naming ``image_digest``.

    Raises:
        SignatureFormatError: not an in-toto statement.
        VerificationFailed: no subject is ``image_digest`` (a signature of another image).
    """
    subjects = statement_digests(payload, source=source)
    for name, digest in subjects:
        if digest == image_digest:
            return name
    named = ", ".join(d for _, d in subjects) or "nothing"
    raise VerificationFailed(
        f"{source}: the statement is about {named}, not {image_digest} "
        "(a signature copied from another image)"
    )


def check_key_bundle(
    bundle: ParsedBundle, keys: Sequence[TrustedKey], *, image_digest: str, location: str
) -> SignatureCheck:
    """The verdict on a key-signed bundle of ``image_digest`` against ``keys``."""
    source = f"bundle {location}"

    def failed(reason: str, **extra: Any) -> SignatureCheck:
        return SignatureCheck(form="bundle", location=location, verified=False, reason=reason, **extra)

    envelope = bundle.dsse
    if bundle.keyless:
        return failed(f"{source} is keyless (a certificate); it is checked against identities, not keys")
    if envelope is None:
        return failed(f"{source} signs a message, not an image statement")
    try:
        payload_type = envelope.get("payloadType")
        if payload_type != IN_TOTO_PAYLOAD_TYPE:
            raise SignatureFormatError(f"{source}: DSSE payload type {payload_type!r} is not in-toto")
        payload = _b64(envelope.get("payload"), what="DSSE payload", source=source)
        signatures = envelope.get("signatures")
        if not isinstance(signatures, list) or len(signatures) != 1 or not isinstance(signatures[0], dict):
            raise SignatureFormatError(f"{source}: the DSSE envelope must carry exactly one signature")
        raw = _b64(signatures[0].get("sig"), what="DSSE signature", source=source)
    except SigningError as exc:
        return failed(exc.message)
    signed = pae(IN_TOTO_PAYLOAD_TYPE, payload)
    try:
        trusted = signing_key(keys, signed, raw, source=source)
    except VerificationFailed as exc:
        return failed(exc.message)
    try:
        name = check_subject(payload, image_digest=image_digest, source=source)
    except SigningError as exc:
        return failed(exc.message, signer=trusted.name, key_fingerprint=trusted.fingerprint)
    return verified_by(trusted, form="bundle", location=location, docker_reference=name)


def check_key_blob_bundle(
    bundle: ParsedBundle, keys: Sequence[TrustedKey], *, artifact: bytes, location: str
) -> SignatureCheck:
    """The verdict on a key-signed bundle over ``artifact``: a message signature (whose digest must
    be the artifact's), or a DSSE statement whose subject is the artifact."""
    source = f"bundle {location}"

    def failed(reason: str) -> SignatureCheck:
        return SignatureCheck(form="blob", location=location, verified=False, reason=reason)

    if bundle.keyless:
        return failed(f"{source} is keyless (a certificate); it is checked against identities, not keys")
    if not keys:
        return failed(f"{source} is signed with a key, but no trusted key was given")
    message = bundle.document.get("messageSignature")
    try:
        if isinstance(message, dict):
            digest = message.get("messageDigest")
            if isinstance(digest, dict):
                if digest.get("algorithm") != "SHA2_256":
                    raise SignatureFormatError(
                        f"{source}: message digest algorithm {digest.get('algorithm')!r} is not SHA2_256"
                    )
                named = _b64(digest.get("digest"), what="message digest", source=source)
                if named != hashlib.sha256(artifact).digest():
                    raise VerificationFailed(
                        f"{source}: the bundle signs another artifact (message digest mismatch)"
                    )
            signed = artifact
            raw = _b64(message.get("signature"), what="message signature", source=source)
        else:
            envelope = bundle.dsse or {}
            payload = _b64(envelope.get("payload"), what="DSSE payload", source=source)
            check_subject(
                payload, image_digest="sha256:" + hashlib.sha256(artifact).hexdigest(), source=source
            )
            signatures = envelope.get("signatures")
            if (
                not isinstance(signatures, list)
                or len(signatures) != 1
                or not isinstance(signatures[0], dict)
            ):
                raise SignatureFormatError(f"{source}: the DSSE envelope must carry exactly one signature")
            signed = pae(str(envelope.get("payloadType")), payload)
            raw = _b64(signatures[0].get("sig"), what="DSSE signature", source=source)
    except SigningError as exc:
        return failed(exc.message)
    try:
        trusted = signing_key(keys, signed, raw, source=source)
    except VerificationFailed as exc:
        return failed(exc.message)
    return verified_by(trusted, form="blob", location=location)
