"""The vault of a data directory: envelope encryption under the master keys found there.

:class:`KeyFileVault` is what the composition root gives the core: an
:class:`~harbourmaster.vault.envelope.EnvelopeVault` over the keyring of
``HARBOURMASTER_HOME`` (or ``HARBOURMASTER_MASTER_KEY``), read at first use and
read again whenever the key files change.  Another process (``keys rotate``)
may replace them while a server runs: the server must neither fail to open a
secret re-wrapped under the new key nor seal under a key the rotation erased.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from harbourmaster.domain.secret import Secret
from harbourmaster.vault.interface import SealedSecret, Vault
from harbourmaster.vault.keyfile import key_files_stamp, load_keyring
from harbourmaster.vault.keys import Keyring

if TYPE_CHECKING:
    from harbourmaster.vault.envelope import EnvelopeVault

__all__ = ["KeyFileVault"]


class KeyFileVault(Vault):
    """The vault over the master keys of ``home`` (or of ``environ``'s ``HARBOURMASTER_MASTER_KEY``)."""

    def __init__(self, home: Path, environ: Mapping[str, str]) -> None:
        self._home = Path(home)
        self._environ = environ
        self._vault: EnvelopeVault | None = None
        self._stamp: tuple[object, ...] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyFileVault({str(self._home)!r})"

    def _current(self) -> EnvelopeVault:
        """The envelope vault over the keys as they are now.

        Raises:
            MasterKeyError: no key is configured, or a key is malformed or stored unsafely.
        """
        stamp = key_files_stamp(self._home, self._environ)
        with self._lock:
            if self._vault is None or stamp != self._stamp:
                from harbourmaster.vault.envelope import EnvelopeVault  # cryptography: only when used

                self._vault = EnvelopeVault(load_keyring(self._home, self._environ))
                self._stamp = stamp
            return self._vault

    @property
    def keyring(self) -> Keyring:
        """The keyring in use now (read again if the key files changed)."""
        return self._current().keyring

    def seal(self, secret: Secret, *, record: str, field: str, origin: str = "") -> SealedSecret:
        return self._current().seal(secret, record=record, field=field, origin=origin)

    def open(self, sealed: SealedSecret, *, record: str, field: str, origin: str = "") -> Secret:
        return self._current().open(sealed, record=record, field=field, origin=origin)

    def rewrap(self, sealed: SealedSecret, *, record: str, field: str) -> SealedSecret:
        return self._current().rewrap(sealed, record=record, field=field)

    def reload(self) -> None:
        with self._lock:
            self._vault = None
