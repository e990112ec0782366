"""Signing keys: generate them, and read and write cosign's key files.

Public keys are PEM ``PUBLIC KEY`` (PKIX SubjectPublicKeyInfo), as cosign writes them.

Private keys are cosign's encrypted PEM: ``ENCRYPTED SIGSTORE PRIVATE KEY`` (and
the older ``ENCRYPTED COSIGN PRIVATE KEY`` label, read only), whose body is JSON::

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": "<b64>"},
     "cipher": {"name": "nacl/secretbox", "nonce": "<b64>"},
     "ciphertext": "<b64>"}

The key is ``scrypt(password, salt, N, r, p, 32)`` and the plaintext a PKCS#8 DER
private key.  Like cosign, a SEC1 (``EC PRIVATE KEY``) plaintext is refused.
The crypto is the field libraries': scrypt and the keys from ``cryptography``,
secretbox from PyNaCl.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from harbourmaster.signing.interface import KeyFormatError, KeyPasswordError

__all__ = [
    "COSIGN_KEY_LABEL",
    "MAX_KEY_FILE_BYTES",
    "SIGSTORE_KEY_LABEL",
    "KeyAlgorithm",
    "PrivateKey",
    "PublicKey",
    "algorithm_of",
    "decrypt_private_key",
    "encrypt_private_key",
    "fingerprint",
    "generate_private_key",
    "load_public_key",
    "private_key_der",
    "public_key_pem",
]

SIGSTORE_KEY_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_KEY_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
_LABELS = (SIGSTORE_KEY_LABEL, COSIGN_KEY_LABEL)

#: cosign's scrypt parameters for the keys it writes (``cosign generate-key-pair``).
SCRYPT_N = 65536
SCRYPT_R = 8
SCRYPT_P = 1
#: What a key file may ask of scrypt: cosign uses 2^15-2^16; beyond 2^20 is a memory attack.
_MAX_SCRYPT_N = 1 << 20
#: A key file (private or public, PEM) of cosign's is under a few kB; more is not a key file.
MAX_KEY_FILE_BYTES = 64 * 1024
_MAX_PUBLIC_KEY_BYTES = 16 * 1024

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class KeyAlgorithm(enum.StrEnum):
    """The key types harbourmaster generates and accepts (those cosign and sigstore support)."""

    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    ECDSA_P521 = "ecdsa-p521"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"


_CURVES: dict[KeyAlgorithm, type[ec.EllipticCurve]] = {
    KeyAlgorithm.ECDSA_P256: ec.SECP256R1,
    KeyAlgorithm.ECDSA_P384: ec.SECP384R1,
    KeyAlgorithm.ECDSA_P521: ec.SECP521R1,
}
_RSA_BITS = {KeyAlgorithm.RSA_2048: 2048, KeyAlgorithm.RSA_3072: 3072, KeyAlgorithm.RSA_4096: 4096}


def generate_private_key(algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256) -> PrivateKey:
    """A new private key of ``algorithm``."""
    if algorithm in _CURVES:
        return ec.generate_private_key(_CURVES[algorithm]())
    if algorithm in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[algorithm])
    return ed25519.Ed25519PrivateKey.generate()


def algorithm_of(key: PrivateKey | PublicKey) -> KeyAlgorithm:
    """The :class:`KeyAlgorithm` of ``key``.

    Raises:
        KeyFormatError: a curve or RSA size harbourmaster does not accept.
    """
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyAlgorithm.ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        for algorithm, curve in _CURVES.items():
            if isinstance(key.curve, curve):
                return algorithm
        raise KeyFormatError(
            f"the elliptic curve {key.curve.name} is not supported (use P-256, P-384 or P-521)"
        )
    for algorithm, bits in _RSA_BITS.items():
        if key.key_size == bits:
            return algorithm
    raise KeyFormatError(f"an RSA key of {key.key_size} bits is not supported (use 2048, 3072 or 4096)")


def public_key_pem(key: PrivateKey | PublicKey) -> str:
    """The PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) of ``key``, as cosign writes ``cosign.pub``."""
    public = key.public_key() if not isinstance(key, PublicKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def fingerprint(key: PrivateKey | PublicKey) -> str:
    """``sha256:<hex>`` of the public key's SubjectPublicKeyInfo DER: how a key is named in audit records."""
    public = key.public_key() if not isinstance(key, PublicKey) else key
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def load_public_key(pem: str | bytes, *, source: str) -> PublicKey:
    """Read a PEM ``PUBLIC KEY`` (or a certificate's key, from a PEM ``CERTIFICATE``).

    ``source`` names where the text came from, for the error message.

    Raises:
        KeyFormatError: not PEM, not a public key, or a type or size that is not accepted.
    """
    data = pem.encode() if isinstance(pem, str) else pem
    if len(data) > _MAX_PUBLIC_KEY_BYTES:
        raise KeyFormatError(f"{source}: {len(data)} bytes is too large for a public key")
    if b"-----BEGIN CERTIFICATE-----" in data:
        from cryptography import x509

        try:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        except ValueError:
            raise KeyFormatError(f"{source}: not a readable PEM certificate") from None
    else:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFormatError(
                f"{source}: not a PEM public key (expected '-----BEGIN PUBLIC KEY-----')",
                details=["give the cosign.pub file, or the PEM text of the key"],
            ) from None
    if not isinstance(key, PublicKey):
        raise KeyFormatError(
            f"{source}: a {type(key).__name__} is not a signing key type harbourmaster "
            "accepts (ECDSA, RSA or Ed25519)"
        )
    algorithm_of(key)
    return key


def private_key_der(key: PrivateKey) -> bytes:
    """The unencrypted PKCS#8 DER of ``key`` (what the vault seals and cosign encrypts)."""
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _scrypt_key(password: bytes, *, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=nacl.secret.SecretBox.KEY_SIZE, n=n, r=r, p=p).derive(password)


def encrypt_private_key(key: PrivateKey, password: bytes) -> bytes:
    """cosign's ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM of ``key`` under ``password``."""
    salt = os.urandom(32)
    nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt_key(password, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P))
    ciphertext = box.encrypt(private_key_der(key), nonce).ciphertext
    envelope = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    body = base64.b64encode(json.dumps(envelope, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "\n".join([f"-----BEGIN {SIGSTORE_KEY_LABEL}-----", *lines, f"-----END {SIGSTORE_KEY_LABEL}-----"])
        + "\n"
    ).encode("ascii")


@dataclass(frozen=True)
class _Envelope:
    salt: bytes
    n: int
    r: int
    p: int
    nonce: bytes
    ciphertext: bytes


def _pem_body(data: bytes, *, source: str) -> bytes:
    text = data.decode("ascii", errors="replace")
    for label in _LABELS:
        begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
        start = text.find(begin)
        if start >= 0:
            stop = text.find(end, start)
            if stop < 0:
                raise KeyFormatError(f"{source}: the PEM block '{label}' has no END line")
            try:
                return base64.b64decode("".join(text[start + len(begin) : stop].split()), validate=True)
            except binascii.Error:
                raise KeyFormatError(f"{source}: the PEM block '{label}' is not base64") from None
    if "PRIVATE KEY-----" in text:
        raise KeyFormatError(
            f"{source}: not a cosign key file; an unencrypted or other PEM private key is not accepted",
            details=["create one with 'cosign generate-key-pair' or 'harbourmaster signing-key generate'"],
        )
    raise KeyFormatError(f"{source}: not a cosign key file (expected '-----BEGIN {SIGSTORE_KEY_LABEL}-----')")


def _b64_field(value: object, *, what: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise KeyFormatError(f"{source}: the key file's {what} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise KeyFormatError(f"{source}: the key file's {what} is not base64") from None


def _envelope(body: bytes, *, source: str) -> _Envelope:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise KeyFormatError(f"{source}: the key file's content is not JSON") from None
    if not isinstance(doc, dict):
        raise KeyFormatError(f"{source}: the key file's content is not a JSON object")
    kdf, cipher = doc.get("kdf"), doc.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise KeyFormatError(
            f"{source}: unsupported key derivation {kdf.get('name') if isinstance(kdf, dict) else kdf!r}"
            " (cosign uses scrypt)"
        )
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise KeyFormatError(f"{source}: unsupported cipher (cosign uses nacl/secretbox)")
    params = kdf.get("params")
    if not isinstance(params, dict) or not all(
        isinstance(params.get(k), int) and not isinstance(params.get(k), bool) for k in ("N", "r", "p")
    ):
        raise KeyFormatError(f"{source}: the scrypt parameters N, r and p must be integers")
    n, r, p = params["N"], params["r"], params["p"]
    if n < 2 or n > _MAX_SCRYPT_N or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise KeyFormatError(
            f"{source}: scrypt parameters N={n}, r={r}, p={p} are out of range "
            f"(N a power of two up to {_MAX_SCRYPT_N}, r 1-32, p 1-16)"
        )
    nonce = _b64_field(cipher.get("nonce"), what="nonce", source=source)
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise KeyFormatError(
            f"{source}: the secretbox nonce must be {nacl.secret.SecretBox.NONCE_SIZE} bytes"
        )
    return _Envelope(
        salt=_b64_field(kdf.get("salt"), what="salt", source=source),
        n=n,
        r=r,
        p=p,
        nonce=nonce,
        ciphertext=_b64_field(doc.get("ciphertext"), what="ciphertext", source=source),
    )


def decrypt_private_key(data: bytes, password: bytes, *, source: str) -> PrivateKey:
    """Open a cosign encrypted key file (either label) with ``password``.

    Raises:
        KeyFormatError: not a cosign key file, malformed, or the plaintext is not a PKCS#8
            private key of an accepted type (cosign refuses SEC1 keys too).
        KeyPasswordError: the password does not open it.
    """
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFormatError(f"{source}: {len(data)} bytes is too large for a key file")
    envelope = _envelope(_pem_body(data, source=source), source=source)
    key = _scrypt_key(password, salt=envelope.salt, n=envelope.n, r=envelope.r, p=envelope.p)
    try:
        der = nacl.secret.SecretBox(key).decrypt(envelope.ciphertext, envelope.nonce)
    except nacl.exceptions.CryptoError:
        raise KeyPasswordError(
            f"{source}: the password does not open this key (or the file was altered)"
        ) from None
    return load_pkcs8(der, source=source)


def load_pkcs8(der: bytes, *, source: str) -> PrivateKey:
    """Read an unencrypted PKCS#8 DER private key (v1, or v2 with the public key, as sigstore-rs
    writes Ed25519).

    Raises:
        KeyFormatError: not PKCS#8 (SEC1 and PKCS#1 are refused, as cosign does), or an unaccepted type.
    """
    if not _is_pkcs8(der):
        raise KeyFormatError(
            f"{source}: the private key is not PKCS#8 (a SEC1 'EC PRIVATE KEY' or PKCS#1 "
            "key is not accepted, as cosign does not accept it)"
        )
    try:
        key: Any = serialization.load_der_private_key(der, password=None)
    except (ValueError, UnsupportedAlgorithm):
        key = _ed25519_from_v2(der)
        if key is None:
            raise KeyFormatError(f"{source}: the private key is not a readable PKCS#8 key") from None
    if not isinstance(key, PrivateKey):
        raise KeyFormatError(
            f"{source}: a {type(key).__name__} is not a signing key type harbourmaster "
            "accepts (ECDSA, RSA or Ed25519)"
        )
    algorithm_of(key)
    return key


def _tlv(der: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``offset``."""
    if offset + 2 > len(der):
        raise ValueError("truncated")
    tag, length = der[offset], der[offset + 1]
    start = offset + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(der):
            raise ValueError("bad length")
        length = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + length > len(der):
        raise ValueError("truncated")
    return tag, start, start + length


def _is_pkcs8(der: bytes) -> bool:
    """Whether ``der`` is SEQUENCE { INTEGER version (0|1), SEQUENCE algorithm, OCTET STRING key, ... }."""
    try:
        tag, start, end = _tlv(der, 0)
        if tag != 0x30 or end != len(der):
            return False
        tag, v_start, v_end = _tlv(der, start)
        if tag != 0x02 or der[v_start:v_end] not in (b"\x00", b"\x01"):
            return False
        tag, _, a_end = _tlv(der, v_end)
        if tag != 0x30:
            return False
        tag, _, _ = _tlv(der, a_end)
        return tag == 0x04
    except ValueError:
        return False


_ED25519_ALGORITHM = bytes.fromhex("300506032b6570")


def _ed25519_from_v2(der: bytes) -> ed25519.Ed25519PrivateKey | None:
    """An Ed25519 key from a PKCS#8 v2 (OneAsymmetricKey) DER that the loader refuses, checked
    against the public key it carries."""
    try:
        _, start, _ = _tlv(der, 0)
        _, _, v_end = _tlv(der, start)
        _, _, a_end = _tlv(der, v_end)
        if der[v_end:a_end] != _ED25519_ALGORITHM:
            return None
        _, k_start, k_end = _tlv(der, a_end)
        tag, s_start, s_end = _tlv(der, k_start)
        if tag != 0x04 or s_end != k_end or s_end - s_start != 32:
            return None
        key = ed25519.Ed25519PrivateKey.from_private_bytes(der[s_start:s_end])
        if k_end < len(der):
            tag, p_start, p_end = _tlv(der, k_end)
            if tag == 0x81:  # [1] IMPLICIT BIT STRING publicKey: a zero "unused bits" byte, then the key
                embedded = der[p_start + 1 : p_end]
                raw = key.public_key().public_bytes(
                    serialization.Encoding.Raw, serialization.PublicFormat.Raw
                )
                if embedded != raw:
                    return None
        return key
    except ValueError:
        return None
