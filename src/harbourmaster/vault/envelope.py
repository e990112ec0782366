"""The local vault: AES-256-GCM envelope encryption under a master keyring.

Each :meth:`EnvelopeVault.seal` draws a fresh 256-bit data key and a 96-bit
nonce, encrypts the secret under the data key, then wraps the data key under
the keyring's primary master key with its own nonce.  Both encryptions carry
associated data naming the record and field (and, for the wrapped key, the
master key's id), so neither part can be moved to another row or column.

The plaintext is padded to a multiple of 32 bytes before encryption so that
the stored ciphertext does not give away the exact length of a password.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harbourmaster.domain.secret import Secret
from harbourmaster.vault.interface import (
    SEALED_FORMAT_VERSION,
    DecryptionError,
    SealedSecret,
    SealedSecretFormatError,
    Vault,
    VaultError,
)
from harbourmaster.vault.keys import KEY_BYTES, Keyring, MasterKey

__all__ = ["EnvelopeVault", "associated_data"]

_NONCE_BYTES = 12
_TAG_BYTES = 16
_WRAPPED_KEY_BYTES = _NONCE_BYTES + KEY_BYTES + _TAG_BYTES
_PAD_BLOCK = 32
_MAX_NAME = 1024
_PREFIX = b"harbourmaster/v1|"


def associated_data(purpose: str, *parts: str) -> bytes:
    """The associated data binding a ciphertext to ``parts`` (record, field, ...).

    Each part is length-prefixed, so no choice of names (even ones that
    contain ``|``) can make two different bindings encode the same.
    """
    out = bytearray(_PREFIX)
    out += purpose.encode("ascii")
    for part in parts:
        encoded = part.encode("utf-8")
        out += b"|" + len(encoded).to_bytes(4, "big") + encoded
    return bytes(out)


def _secret_aad(record: str, field: str, origin: str) -> bytes:
    # An origin-bound secret uses its own purpose label, so a bound and an
    # unbound binding can never encode the same associated data.
    if origin:
        return associated_data("bound-secret", record, field, origin)
    return associated_data("secret", record, field)


def _check_names(record: str, field: str) -> None:
    for name, value in (("record", record), ("field", field)):
        if not isinstance(value, str) or not value:
            raise VaultError(f"vault: {name} must be a non-empty string")
        if len(value) > _MAX_NAME:
            raise VaultError(f"vault: {name} is longer than {_MAX_NAME} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise VaultError(f"vault: {name} is not valid Unicode text") from None


def _pad(data: bytes) -> bytes:
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % _PAD_BLOCK)


def _unpad(data: bytes) -> bytes | None:
    end = data.rfind(b"\x80")
    if end < 0 or data[end + 1 :].strip(b"\x00") or len(data) % _PAD_BLOCK:
        return None
    return data[:end]


class EnvelopeVault(Vault):
    """A :class:`Vault` whose master keys live in a local :class:`Keyring`."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring

    def seal(self, secret: Secret, *, record: str, field: str, origin: str = "") -> SealedSecret:
        """Encrypt ``secret`` for ``record`` and ``field`` (and ``origin``) under the primary key.

        Raises:
            VaultError: ``secret`` is not a :class:`Secret`, or ``record``/``field``
                are empty or too long, or the value is not encodable as UTF-8.
        """
        if not isinstance(secret, Secret):
            raise VaultError(f"vault: seal takes a Secret, not {type(secret).__name__}")
        _check_names(record, field)
        try:
            plaintext = secret.reveal().encode("utf-8")
        except UnicodeEncodeError:
            raise VaultError(f"vault: the secret for {record} {field} is not valid Unicode text") from None
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        nonce = os.urandom(_NONCE_BYTES)
        aad = _secret_aad(record, field, origin)
        ciphertext = AESGCM(data_key).encrypt(nonce, _pad(plaintext), aad)
        primary = self.keyring.primary
        return SealedSecret(
            key_id=primary.key_id,
            wrapped_key=self._wrap(primary, data_key, record=record, field=field),
            nonce=nonce,
            ciphertext=ciphertext,
            version=SEALED_FORMAT_VERSION,
        )

    def open(self, sealed: SealedSecret, *, record: str, field: str, origin: str = "") -> Secret:
        """Decrypt ``sealed`` for ``record`` and ``field`` (and the ``origin`` it was sealed for).

        Raises:
            SealedSecretFormatError: ``sealed`` is of an unknown format version.
            UnknownKeyError: the keyring lacks the master key it names.
            DecryptionError: it was altered, or sealed for another record or
                field; the message names the record and field only.
        """
        _check_names(record, field)
        data_key = self._unwrap(sealed, record=record, field=field)
        if len(sealed.nonce) != _NONCE_BYTES:
            raise self._failed(record, field, "the nonce has the wrong length")
        try:
            aad = _secret_aad(record, field, origin)
            padded = AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, aad)
        except InvalidTag:
            raise self._failed(record, field, "the ciphertext does not authenticate") from None
        plaintext = _unpad(padded)
        if plaintext is None:
            raise self._failed(record, field, "the padding is malformed")
        try:
            return Secret(plaintext.decode("utf-8"))
        except UnicodeDecodeError:
            raise self._failed(record, field, "the plaintext is not UTF-8") from None

    def rewrap(self, sealed: SealedSecret, *, record: str, field: str) -> SealedSecret:
        """Re-wrap the data key of ``sealed`` under the primary key; the ciphertext is kept.

        Returns ``sealed`` itself when it is already wrapped by the primary key.

        Raises:
            SealedSecretFormatError: ``sealed`` is of an unknown format version.
            UnknownKeyError: the keyring lacks the master key it names.
            DecryptionError: the wrapped key was altered, or belongs to another record or field.
        """
        _check_names(record, field)
        primary = self.keyring.primary
        data_key = self._unwrap(sealed, record=record, field=field)
        if sealed.key_id == primary.key_id:
            return sealed
        return SealedSecret(
            key_id=primary.key_id,
            wrapped_key=self._wrap(primary, data_key, record=record, field=field),
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            version=sealed.version,
        )

    def needs_rewrap(self, sealed: SealedSecret) -> bool:
        """Whether ``sealed`` is wrapped by a key other than the primary one."""
        return sealed.key_id != self.keyring.primary.key_id

    @staticmethod
    def _wrap(key: MasterKey, data_key: bytes, *, record: str, field: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        aad = associated_data("data-key", key.key_id, record, field)
        return nonce + key.wrap(data_key, nonce=nonce, aad=aad)

    def _unwrap(self, sealed: SealedSecret, *, record: str, field: str) -> bytes:
        if sealed.version != SEALED_FORMAT_VERSION:
            raise SealedSecretFormatError(
                f"sealed secret for {record} {field}: format version {sealed.version} is not supported"
            )
        key = self.keyring.get(sealed.key_id)
        if len(sealed.wrapped_key) != _WRAPPED_KEY_BYTES:
            raise self._failed(record, field, "the wrapped data key has the wrong length")
        nonce, body = sealed.wrapped_key[:_NONCE_BYTES], sealed.wrapped_key[_NONCE_BYTES:]
        try:
            return key.unwrap(body, nonce=nonce, aad=associated_data("data-key", key.key_id, record, field))
        except InvalidTag:
            raise self._failed(record, field, "the wrapped data key does not authenticate") from None

    @staticmethod
    def _failed(record: str, field: str, why: str) -> DecryptionError:
        return DecryptionError(
            f"the sealed {field} of {record} does not open: {why}",
            details=["it was altered, copied from another record or field, or sealed for another origin"],
        )
