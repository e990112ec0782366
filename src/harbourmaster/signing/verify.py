"""Check signatures against trusted keys: one verdict, with its reason, per signature found.

A signature verifies for a trusted key when the key's signature over the exact
payload bytes checks, the payload (parsed only after that) is a simple-signing
payload naming the image's digest, and it carries the required annotations.
Which trusted key verified it is the signer's name the tier policy counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harbourmaster.signing.interface import SigningError, VerificationFailed
from harbourmaster.signing.keys import PublicKey, fingerprint
from harbourmaster.signing.oci import TagSignature
from harbourmaster.signing.payload import parse_payload
from harbourmaster.signing.signatures import decode_signature, verify_bytes

__all__ = [
    "SignatureCheck",
    "TrustedKey",
    "check_blob_signature",
    "check_tag_signature",
    "signing_key",
    "verified_by",
]


@dataclass(frozen=True)
class TrustedKey:
    """A public key trusted under a name (a governance ``signing.keys`` entry, or a key for one command)."""

    name: str
    key: PublicKey = field(repr=False, compare=False)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)


@dataclass(frozen=True, kw_only=True)
class SignatureCheck:
    """The verdict on one signature: which trusted signer verified it, or why none did."""

    form: str  # "tag" (cosign's .sig manifest), "bundle" (sigstore bundle), "notation", "blob"
    location: str  # where it was found: the layer or artifact digest, or the file
    verified: bool
    reason: str
    signer: str | None = None
    key_fingerprint: str | None = None
    docker_reference: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def signing_key(keys: Iterable[TrustedKey], data: bytes, signature: bytes, *, source: str) -> TrustedKey:
    """The first of ``keys`` whose signature over exactly ``data`` is ``signature``.

    Raises:
        VerificationFailed: none is; the message gives each key's reason.
    """
    reasons: list[str] = []
    for trusted in keys:
        try:
            verify_bytes(trusted.key, data, signature, source=source)
        except VerificationFailed as exc:
            reasons.append(f"{trusted.name}: {exc.message.removeprefix(source + ': ')}")
            continue
        return trusted
    raise VerificationFailed(
        f"{source} does not verify with any trusted key: " + ("; ".join(reasons) or "no key given")
    )


def verified_by(trusted: TrustedKey, *, form: str, location: str, **extra: Any) -> SignatureCheck:
    """The verdict on a signature ``trusted`` verified."""
    return SignatureCheck(
        form=form,
        location=location,
        verified=True,
        reason=f"verified with key {trusted.name} ({trusted.fingerprint})",
        signer=trusted.name,
        key_fingerprint=trusted.fingerprint,
        **extra,
    )


def check_tag_signature(
    signature: TagSignature,
    keys: Sequence[TrustedKey],
    *,
    image_digest: str,
    annotations: Mapping[str, str] | None = None,
) -> SignatureCheck:
    """The verdict on one classic signature of ``image_digest`` against ``keys``."""
    source = f"signature layer {signature.layer_digest}"

    def failed(reason: str) -> SignatureCheck:
        return SignatureCheck(form="tag", location=signature.layer_digest, verified=False, reason=reason)

    if not signature.signature:
        return failed(f"{source} has no {'dev.cosignproject.cosign/signature'} annotation")
    try:
        raw = decode_signature(signature.signature, source=source)
    except SigningError as exc:
        return failed(exc.message)
    if not keys:
        return failed(f"{source}: no trusted key to check it with")
    try:
        trusted = signing_key(keys, signature.payload, raw, source=source)
    except VerificationFailed as exc:
        return failed(exc.message)
    try:
        payload = parse_payload(signature.payload, source=source)
        payload.check(image_digest=image_digest, annotations=annotations or {}, source=source)
    except SigningError as exc:
        # The key signed it, but not for this image or not with these annotations: that is the reason.
        return SignatureCheck(
            form="tag",
            location=signature.layer_digest,
            verified=False,
            reason=exc.message,
            signer=trusted.name,
            key_fingerprint=trusted.fingerprint,
        )
    return verified_by(
        trusted,
        form="tag",
        location=signature.layer_digest,
        docker_reference=payload.docker_reference,
        annotations=payload.annotations,
    )


def check_blob_signature(
    data: bytes, signature_b64: str, keys: Iterable[TrustedKey], *, source: str
) -> SignatureCheck:
    """The verdict on a detached signature (cosign ``sign-blob``) over ``data``."""
    try:
        raw = decode_signature(signature_b64, source="the signature")
    except SigningError as exc:
        return SignatureCheck(form="blob", location=source, verified=False, reason=exc.message)
    try:
        trusted = signing_key(keys, data, raw, source=source)
    except VerificationFailed as exc:
        return SignatureCheck(form="blob", location=source, verified=False, reason=exc.message)
    return verified_by(trusted, form="blob", location=source)
