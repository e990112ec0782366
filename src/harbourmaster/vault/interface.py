"""The vault layer: what a vault does, the sealed form it produces, and its errors.

A vault is write-only from the outside: secrets go in through :meth:`Vault.seal`
and come back as an opaque :class:`SealedSecret`, which is what the store
keeps.  Only the component that hands a credential to its consumer (a
registry client, a pull-secret writer) calls :meth:`Vault.open`.

Each sealed secret is bound to the record and field it was sealed for, so a
ciphertext (or its wrapped data key) copied into another row or column does
not open.
"""

from __future__ import annotations

import re
import struct
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Error

__all__ = [
    "SEALED_FORMAT_VERSION",
    "DecryptionError",
    "MasterKeyError",
    "RotationError",
    "SealedSecret",
    "SealedSecretFormatError",
    "UnknownKeyError",
    "UnresolvedSecretError",
    "Vault",
    "VaultError",
]

#: The one sealed format this code writes and reads: AES-256-GCM envelope,
#: data key wrapped under a master key, both bound to record and field.
SEALED_FORMAT_VERSION = 1

_MAGIC = b"hmv"
_KEY_ID = re.compile(r"[0-9a-z][0-9a-z._-]{0,63}")


class VaultError(Error):
    """Base of every error the vault raises.  Messages never hold secret material."""

    kind = "vault"


class MasterKeyError(VaultError):
    """The master key is missing, malformed, or stored unsafely."""

    kind = "vault-master-key"


class DecryptionError(VaultError):
    """A sealed secret does not open: tampered, or sealed for another record or field."""

    kind = "vault-decryption"


class UnknownKeyError(DecryptionError):
    """A sealed secret names a master key that the keyring does not hold."""

    kind = "vault-unknown-key"


class SealedSecretFormatError(VaultError):
    """Bytes that should hold a sealed secret are not in a format this code reads."""

    kind = "vault-sealed-format"


class RotationError(VaultError):
    """A master-key rotation step cannot be done in the current state."""

    kind = "vault-rotation"
    status = 409


class UnresolvedSecretError(VaultError):
    """A secret reference (``env:VAR``, ``file:/path``) cannot be resolved."""

    kind = "secret-unresolved"
    status = 422


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A secret encrypted for one record and field.

    Attributes:
        key_id: fingerprint of the master key that wraps the data key.
        wrapped_key: the data key, encrypted under that master key
            (nonce included), bound to ``key_id``, record and field.
        nonce: the nonce the secret was encrypted with under the data key.
        ciphertext: the (padded) secret encrypted under the data key,
            authentication tag included, bound to record and field.
        version: the sealed format, :data:`SEALED_FORMAT_VERSION`.
    """

    key_id: str
    wrapped_key: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)
    version: int = SEALED_FORMAT_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise SealedSecretFormatError("sealed secret: key_id is not a key fingerprint")
        for name in ("wrapped_key", "nonce", "ciphertext"):
            if not isinstance(getattr(self, name), bytes):
                raise SealedSecretFormatError(f"sealed secret: {name} must be bytes")
        if not isinstance(self.version, int) or isinstance(self.version, bool) or not 0 < self.version < 256:
            raise SealedSecretFormatError("sealed secret: version must be an integer from 1 to 255")
        if len(self.wrapped_key) > 0xFFFF or len(self.nonce) > 0xFF:
            raise SealedSecretFormatError("sealed secret: wrapped key or nonce is too long")

    def to_bytes(self) -> bytes:
        """Serialise for a database column.

        Layout: ``b"hmv"``, version (1 byte), key_id length (1 byte) and
        ASCII key_id, wrapped_key length (2 bytes, big-endian) and
        wrapped_key, nonce length (1 byte) and nonce, then the ciphertext.
        """
        key_id = self.key_id.encode("ascii")
        return b"".join(
            (
                _MAGIC,
                struct.pack(">BB", self.version, len(key_id)),
                key_id,
                struct.pack(">H", len(self.wrapped_key)),
                self.wrapped_key,
                struct.pack(">B", len(self.nonce)),
                self.nonce,
                self.ciphertext,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedSecret:
        """Parse what :meth:`to_bytes` produced.

        Raises:
            SealedSecretFormatError: ``data`` is truncated, has trailing
                garbage in a length-prefixed part, an unknown version, or is
                not a sealed secret at all.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise SealedSecretFormatError(f"sealed secret: expected bytes, not {type(data).__name__}")
        view = bytes(data)
        if not view.startswith(_MAGIC):
            raise SealedSecretFormatError("sealed secret: not in the vault's format (bad magic)")
        pos = len(_MAGIC)

        def take(n: int, what: str) -> bytes:
            nonlocal pos
            if pos + n > len(view):
                raise SealedSecretFormatError(f"sealed secret: truncated in {what}")
            chunk = view[pos : pos + n]
            pos += n
            return chunk

        version, key_id_len = struct.unpack(">BB", take(2, "header"))
        if version != SEALED_FORMAT_VERSION:
            raise SealedSecretFormatError(
                f"sealed secret: format version {version} is not supported "
                f"(this code reads version {SEALED_FORMAT_VERSION})"
            )
        raw_key_id = take(key_id_len, "key id")
        (wrapped_len,) = struct.unpack(">H", take(2, "wrapped key length"))
        wrapped_key = take(wrapped_len, "wrapped key")
        (nonce_len,) = struct.unpack(">B", take(1, "nonce length"))
        nonce = take(nonce_len, "nonce")
        ciphertext = view[pos:]
        try:
            key_id = raw_key_id.decode("ascii")
        except UnicodeDecodeError:
            raise SealedSecretFormatError("sealed secret: key id is not ASCII") from None
        return cls(
            key_id=key_id, wrapped_key=wrapped_key, nonce=nonce, ciphertext=ciphertext, version=version
        )


class Vault(ABC):
    """Seals secrets for storage and opens them for use.

    ``record`` names the stored thing the secret belongs to (for example
    ``"registry:3f2a..."``) and ``field`` the attribute (``"password"``).  Both
    are bound into the encryption: opening with other values fails.
    """

    @abstractmethod
    def seal(self, secret: Secret, *, record: str, field: str, origin: str = "") -> SealedSecret:
        """Encrypt ``secret`` for ``record`` and ``field``, bound to ``origin`` when given
        (where the secret may be sent: opening it for another origin fails).

        Raises:
            VaultError: ``record``/``field`` are empty, or the secret cannot be encoded.
        """

    @abstractmethod
    def open(self, sealed: SealedSecret, *, record: str, field: str, origin: str = "") -> Secret:
        """Decrypt ``sealed``, which must have been sealed for ``record``, ``field`` and ``origin``.

        Raises:
            UnknownKeyError: the master key that wraps it is not available.
            DecryptionError: it was altered, or sealed for another record or field.
        """

    @abstractmethod
    def rewrap(self, sealed: SealedSecret, *, record: str, field: str) -> SealedSecret:
        """Re-wrap the data key under the current primary master key.

        The ciphertext is not touched; only ``key_id`` and ``wrapped_key`` change.

        Raises:
            UnknownKeyError: the master key that wraps it is not available.
            DecryptionError: the wrapped key was altered, or belongs to another record or field.
        """

    def reload(self) -> None:  # noqa: B027 - an optional hook: most vaults have nothing to reload
        """Read the master keys again at next use (after a rotation); a vault that keeps its keys in
        memory has nothing to read again."""
