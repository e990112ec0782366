"""Master keys and the keyring that holds them.

A :class:`MasterKey` is 32 random bytes used only to wrap data keys.  It is
known by its ``key_id``, a short fingerprint derived with HKDF, which says
nothing about the key.  A :class:`Keyring` holds the primary key (used to
seal and re-wrap) and older keys that are still accepted for opening; that is
what lets a rotation stop half-way and carry on later.

Where keys are stored (the environment, the key file) is in
:mod:`harbourmaster.vault.keyfile`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Iterable, Iterator
from typing import Any, NoReturn, final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from harbourmaster.domain.secret import Secret
from harbourmaster.vault.interface import MasterKeyError, UnknownKeyError

__all__ = ["KEY_BYTES", "Keyring", "MasterKey"]

#: A master key is an AES-256 key.
KEY_BYTES = 32

_KEY_ID_INFO = b"harbourmaster/v1 master key id"
_KEY_ID_BYTES = 8


@final
class MasterKey:
    """An AES-256 key that wraps data keys.  Its repr shows only its ``key_id``."""

    __slots__ = ("__aead", "__raw", "key_id")
    key_id: str
    __raw: bytes
    __aead: AESGCM

    def __init__(self, raw: bytes) -> None:
        """Use ``raw`` (exactly 32 bytes) as a master key.

        Raises:
            MasterKeyError: ``raw`` is not 32 bytes.
        """
        if not isinstance(raw, bytes) or len(raw) != KEY_BYTES:
            raise MasterKeyError(f"a master key must be exactly {KEY_BYTES} bytes")
        hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_ID_BYTES, salt=None, info=_KEY_ID_INFO)
        key_id = hkdf.derive(raw)
        object.__setattr__(self, "key_id", key_id.hex())
        object.__setattr__(self, "_MasterKey__raw", raw)
        object.__setattr__(self, "_MasterKey__aead", AESGCM(raw))

    @classmethod
    def generate(cls) -> MasterKey:
        """A new key from the operating system's random source."""
        return cls(os.urandom(KEY_BYTES))

    @classmethod
    def from_base64(cls, text: str, *, source: str) -> MasterKey:
        """Decode a key written as base64 (standard alphabet, padding optional).

        ``source`` names where the text came from (a variable, a file) and is
        the only thing an error repeats; the text itself never is.

        Raises:
            MasterKeyError: the text is not base64 of exactly 32 bytes.
        """
        cleaned = "".join(text.split())
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            raw = base64.b64decode(cleaned.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MasterKeyError(
                f"{source}: the master key is not valid base64",
                details=[f"expected base64 of {KEY_BYTES} random bytes, e.g. from `openssl rand -base64 32`"],
            ) from None
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(
                f"{source}: the master key must decode to {KEY_BYTES} bytes",
                details=["generate one with `openssl rand -base64 32`"],
            )
        return cls(raw)

    def export_base64(self) -> Secret:
        """The key as base64 text, wrapped as a :class:`Secret` (for the key file or a variable)."""
        return Secret(base64.b64encode(self.__raw).decode("ascii"))

    def same_key(self, other: MasterKey) -> bool:
        """Whether ``other`` is the same key, compared in constant time."""
        return hmac.compare_digest(self.__raw, other.__raw)

    def wrap(self, data: bytes, *, nonce: bytes, aad: bytes) -> bytes:
        """AES-256-GCM encrypt ``data`` under this key (used to wrap data keys)."""
        return self.__aead.encrypt(nonce, data, aad)

    def unwrap(self, data: bytes, *, nonce: bytes, aad: bytes) -> bytes:
        """AES-256-GCM decrypt ``data``.

        Raises:
            cryptography.exceptions.InvalidTag: ``data`` or ``aad`` do not
                match; the envelope translates this into ``DecryptionError``.
        """
        return self.__aead.decrypt(nonce, data, aad)

    def __repr__(self) -> str:
        return f"MasterKey(key_id={self.key_id!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MasterKey):
            return self.same_key(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("MasterKey is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("MasterKey is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError("a MasterKey cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a MasterKey cannot be pickled")

    def __copy__(self) -> MasterKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> MasterKey:
        return self


class Keyring:
    """The primary master key, plus older keys still accepted for opening.

    ``source`` says where the keys came from, for messages.
    """

    __slots__ = ("_keys", "primary", "source")

    def __init__(
        self, primary: MasterKey, others: Iterable[MasterKey] = (), *, source: str = "memory"
    ) -> None:
        self.primary = primary
        self.source = source
        self._keys: dict[str, MasterKey] = {primary.key_id: primary}
        for key in others:
            self._keys.setdefault(key.key_id, key)

    def get(self, key_id: str) -> MasterKey:
        """The key with fingerprint ``key_id``.

        Raises:
            UnknownKeyError: no key in this keyring has that fingerprint.
        """
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownKeyError(
                f"master key {key_id} is not in the keyring (keys from {self.source})",
                details=[
                    "the secret was sealed under a key that has been retired or replaced; "
                    "restore that key (e.g. master.key.<id>.retired) as an opening key"
                ],
            ) from None

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __iter__(self) -> Iterator[MasterKey]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Fingerprints of every key, the primary first."""
        return tuple(self._keys)

    def with_primary(self, key: MasterKey) -> Keyring:
        """A keyring that seals under ``key`` and still opens with every key held here."""
        return Keyring(key, self._keys.values(), source=self.source)

    def __repr__(self) -> str:
        ids = list(self._keys)
        return f"Keyring(primary={self.primary.key_id!r}, key_ids={ids!r}, source={self.source!r})"
