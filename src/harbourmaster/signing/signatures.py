"""Raw signatures over exact bytes, as cosign makes them.

ECDSA signatures are ASN.1 DER; the hash is the key's sigstore default
(P-256 SHA-256, P-384 SHA-384, P-521 SHA-512).  cosign releases before 2.4 signed
with SHA-256 whatever the curve, so an ECDSA signature that fails with the
default hash is also tried with SHA-256.  RSA is PKCS#1 v1.5 with SHA-256, and
Ed25519 signs the bytes themselves.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from harbourmaster.signing.interface import SignatureFormatError, VerificationFailed
from harbourmaster.signing.keys import PrivateKey, PublicKey

__all__ = ["MAX_SIGNATURE_BYTES", "decode_signature", "sign_bytes", "verify_bytes"]

#: A DER ECDSA P-521 signature is ~139 bytes, an RSA-4096 one 512: anything past 2 KiB is not a signature.
MAX_SIGNATURE_BYTES = 2048


def _default_hash(key: PrivateKey | PublicKey) -> hashes.HashAlgorithm:
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        size = key.curve.key_size
        return hashes.SHA512() if size > 384 else hashes.SHA384() if size > 256 else hashes.SHA256()
    return hashes.SHA256()


def sign_bytes(key: PrivateKey, data: bytes) -> bytes:
    """The signature of ``key`` over ``data`` (DER for ECDSA)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data, ec.ECDSA(_default_hash(key)))


def decode_signature(text: str | bytes, *, source: str) -> bytes:
    """The bytes of a base64 signature (cosign's annotation and ``.sig`` file form).

    Raises:
        SignatureFormatError: not base64, empty, or too long to be a signature.
    """
    raw = text.strip() if isinstance(text, bytes) else text.strip().encode("ascii", errors="replace")
    if len(raw) > MAX_SIGNATURE_BYTES * 2:
        raise SignatureFormatError(f"{source}: {len(raw)} characters is too long for a signature")
    try:
        signature = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureFormatError(f"{source}: the signature is not base64") from None
    if not signature:
        raise SignatureFormatError(f"{source}: the signature is empty")
    return signature


def verify_bytes(key: PublicKey, data: bytes, signature: bytes, *, source: str) -> None:
    """Check ``signature`` over exactly ``data`` with ``key``.

    Raises:
        VerificationFailed: the signature is not ``key``'s over these bytes (including a
            truncated or non-DER ECDSA signature, which is named as such).
    """
    if len(signature) > MAX_SIGNATURE_BYTES:
        raise VerificationFailed(f"{source}: {len(signature)} bytes is too long for a signature")
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return
    except InvalidSignature:
        raise VerificationFailed(
            f"{source}: the signature does not verify with this key over these exact bytes"
        ) from None
    try:
        decode_dss_signature(signature)
    except ValueError:
        raise VerificationFailed(
            f"{source}: the signature is not an ASN.1 DER ECDSA signature (truncated or another encoding)"
        ) from None
    default = _default_hash(key)
    for algorithm in (default, *(() if isinstance(default, hashes.SHA256) else (hashes.SHA256(),))):
        try:
            key.verify(signature, data, ec.ECDSA(algorithm))
            return
        except InvalidSignature:
            continue
    raise VerificationFailed(f"{source}: the signature does not verify with this key over these exact bytes")
