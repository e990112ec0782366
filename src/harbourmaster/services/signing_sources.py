"""Where a private key for signing comes from: a cosign key file for one command, or the vault."""

from __future__ import annotations

import os
from dataclasses import dataclass

from harbourmaster.domain.secret import Secret
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.signing_keys import open_signing_key
from harbourmaster.services.signing_trust import read_key_file
from harbourmaster.signing.keys import PrivateKey, decrypt_private_key

__all__ = ["KeyFile", "KeySource", "VaultKey", "private_key"]


@dataclass(frozen=True)
class KeyFile:
    """A cosign private key file on this host, for one command, and its password (CLI only)."""

    path: str
    password: Secret


@dataclass(frozen=True)
class VaultKey:
    """A signing key kept in the vault, by name."""

    name: str


KeySource = KeyFile | VaultKey


def private_key(hm: Harbourmaster, source: KeySource) -> tuple[PrivateKey, str]:
    """The private key of ``source`` and the name it is recorded under (the vault name, or the file's).

    Raises:
        KeyFormatError, KeyPasswordError: the key file is not usable.
        NotFound: no such vault key.
        UnresolvedSecretError: the key file cannot be read (or is one of harbourmaster's own).
        VaultError: the vault key does not open.
    """
    if isinstance(source, VaultKey):
        key, stored = open_signing_key(hm, source.name)
        return key, stored.name
    data = read_key_file(source.path, guard=hm.host_files())
    key = decrypt_private_key(data, source.password.reveal().encode("utf-8"), source=f"--key {source.path}")
    return key, os.path.basename(source.path)
