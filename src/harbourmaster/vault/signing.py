"""The audit checkpoint signing key: Ed25519, its private half sealed by the vault.

The private key is generated here, sealed with :meth:`Vault.seal` for its own
record and field (so the store keeps only ciphertext that opens with the
master key), and opened here into a :class:`CheckpointSigner`.  Nothing
outside this module sees the private key: a signer only signs, and shows its
:class:`CheckpointPublicKey`.

A database-only attacker can neither use the key (it needs the master key)
nor swap in their own (a blob not sealed under the master key does not open).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, NoReturn, final

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from harbourmaster.domain.audit_checkpoint import checkpoint_key_id
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput
from harbourmaster.vault.interface import SealedSecret, Vault, VaultError

__all__ = [
    "CheckpointPublicKey",
    "CheckpointSigner",
    "PublicKeyFormatError",
    "SigningKeyError",
    "generate_checkpoint_key",
    "open_checkpoint_key",
]

_RAW_BYTES = 32


class SigningKeyError(VaultError):
    """The sealed checkpoint signing key opened, but does not hold an Ed25519 key."""

    kind = "vault-signing-key"


class PublicKeyFormatError(SigningKeyError, BadInput):
    """A public key given to check checkpoints with is not an Ed25519 public key in PEM."""

    kind = "vault-public-key-format"
    status = 422


@final
class CheckpointPublicKey:
    """An Ed25519 public key that checks checkpoint signatures (a :class:`CheckpointKey`)."""

    __slots__ = ("_key", "key_id", "raw")

    def __init__(self, raw: bytes) -> None:
        """Use ``raw`` (the 32-byte raw public key).

        Raises:
            PublicKeyFormatError: ``raw`` is not 32 bytes.
        """
        if not isinstance(raw, bytes) or len(raw) != _RAW_BYTES:
            raise PublicKeyFormatError(f"an Ed25519 public key is {_RAW_BYTES} bytes")
        self.raw = raw
        self.key_id = checkpoint_key_id(raw)
        self._key = Ed25519PublicKey.from_public_bytes(raw)

    @classmethod
    def from_pem(cls, data: bytes | str, *, source: str) -> CheckpointPublicKey:
        """Read a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo), as ``audit public-key`` prints it.

        Raises:
            PublicKeyFormatError: ``data`` is not PEM, or not an Ed25519 public key;
                the message names ``source``.
        """
        pem = data.encode("utf-8", "replace") if isinstance(data, str) else data
        try:
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise PublicKeyFormatError(
                f"{source}: not a PEM public key",
                details=["expected the PUBLIC KEY block that 'harbourmaster audit public-key' prints"],
            ) from None
        if not isinstance(key, Ed25519PublicKey):
            raise PublicKeyFormatError(f"{source}: not an Ed25519 public key")
        return cls(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    def pem(self) -> str:
        """The key as a PEM ``PUBLIC KEY`` block (SubjectPublicKeyInfo)."""
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verify(self, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's Ed25519 signature over ``payload``."""
        try:
            self._key.verify(signature, payload)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CheckpointPublicKey) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"CheckpointPublicKey(key_id={self.key_id!r})"


@final
class CheckpointSigner:
    """Signs checkpoints.  Holds the private key and never gives it out."""

    __slots__ = ("__private", "public_key")
    public_key: CheckpointPublicKey
    __private: Ed25519PrivateKey

    def __init__(self, private: Ed25519PrivateKey) -> None:
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        object.__setattr__(self, "public_key", CheckpointPublicKey(raw))
        object.__setattr__(self, "_CheckpointSigner__private", private)

    @property
    def key_id(self) -> str:
        return self.public_key.key_id

    def sign(self, payload: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``payload``."""
        return self.__private.sign(payload)

    def __repr__(self) -> str:
        return f"CheckpointSigner(key_id={self.key_id!r})"

    __str__ = __repr__

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("CheckpointSigner is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a CheckpointSigner cannot be pickled; its key stays sealed in the vault")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a CheckpointSigner cannot be pickled; its key stays sealed in the vault")


def generate_checkpoint_key(
    vault: Vault, *, record: str, field: str
) -> tuple[CheckpointSigner, SealedSecret]:
    """A new signing key, and its private half sealed for ``record`` and ``field``.

    Raises:
        VaultError: the vault cannot seal.
    """
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    sealed = vault.seal(Secret(base64.b64encode(raw).decode("ascii")), record=record, field=field)
    return CheckpointSigner(private), sealed


def open_checkpoint_key(vault: Vault, sealed: SealedSecret, *, record: str, field: str) -> CheckpointSigner:
    """The signer whose private key ``sealed`` holds.

    Raises:
        DecryptionError: ``sealed`` was not sealed for ``record`` and ``field``
            under a master key of this vault (altered, or substituted).
        UnknownKeyError: the master key it names is not in the keyring.
        SigningKeyError: it opens but does not hold a 32-byte Ed25519 key.
    """
    secret = vault.open(sealed, record=record, field=field)
    try:
        raw = base64.b64decode(secret.reveal().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise SigningKeyError(f"the sealed {field} of {record} is not base64 of an Ed25519 key") from None
    if len(raw) != _RAW_BYTES:
        raise SigningKeyError(f"the sealed {field} of {record} is not a {_RAW_BYTES}-byte Ed25519 key")
    return CheckpointSigner(Ed25519PrivateKey.from_private_bytes(raw))
