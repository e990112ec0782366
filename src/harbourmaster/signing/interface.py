"""The signing layer: its base error and the value types its modules share.

Signing and verification follow cosign's formats (key files, the simple-signing
payload, the ``sha256-<hex>.sig`` signature manifest, sigstore bundles) so that
cosign, Kyverno and Harbor accept what harbourmaster signs, and harbourmaster
verifies what they produce, without a cosign binary.
"""

from __future__ import annotations

from dataclasses import dataclass

from harbourmaster.errors import BadInput, Error

__all__ = [
    "KeyFormatError",
    "KeyPasswordError",
    "SignatureFormatError",
    "SigningError",
    "VerificationFailed",
    "VerifiedSignature",
]


class SigningError(Error):
    """Signing or verification could not be done."""

    kind = "signing"


class KeyFormatError(SigningError, BadInput):
    """A key file or PEM text is not a key harbourmaster can use (malformed, wrong type, wrong size)."""

    kind = "signing-key-format"
    status = 422


class KeyPasswordError(SigningError, BadInput):
    """An encrypted private key does not open with the password given."""

    kind = "signing-key-password"
    status = 422


class SignatureFormatError(SigningError, BadInput):
    """A signature, payload or signature manifest is malformed (not base64, not DER, too large, ...)."""

    kind = "signature-format"
    status = 422


class VerificationFailed(SigningError):
    """A signature does not verify: the bytes, the key, the digest it names or its annotations.

    Not a bad input: the policy says no (exit 1 on the CLI).
    """

    kind = "signature-invalid"
    status = 422


@dataclass(frozen=True, kw_only=True)
class VerifiedSignature:
    """A signature that verified: by which key (its fingerprint), over which image digest."""

    key_fingerprint: str
    image_digest: str
    docker_reference: str
    annotations: dict[str, str]
