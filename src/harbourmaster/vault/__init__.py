"""The write-only credential vault: AES-256-GCM envelope encryption under master keys.

Typical use::

    keyring = load_keyring(home, os.environ)
    vault = EnvelopeVault(keyring)
    sealed = vault.seal(Secret(password), record=f"registry:{registry_id}", field="password")
    column = sealed.to_bytes()
    ...
    secret = vault.open(SealedSecret.from_bytes(column), record=..., field="password")
"""

from __future__ import annotations

from harbourmaster.vault.envelope import EnvelopeVault, associated_data
from harbourmaster.vault.interface import (
    SEALED_FORMAT_VERSION,
    DecryptionError,
    MasterKeyError,
    RotationError,
    SealedSecret,
    SealedSecretFormatError,
    UnknownKeyError,
    UnresolvedSecretError,
    Vault,
    VaultError,
)
from harbourmaster.vault.keyfile import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE,
    NEXT_KEY_FILE,
    PREVIOUS_KEYS_ENV,
    begin_rotation,
    commit_rotation,
    create_master_key_file,
    load_keyring,
    pending_rotation,
    read_master_key_file,
    retired_key_path,
)
from harbourmaster.vault.keys import KEY_BYTES, Keyring, MasterKey
from harbourmaster.vault.local import KeyFileVault
from harbourmaster.vault.references import MAX_SECRET_FILE_BYTES, resolve_secret_reference

__all__ = [
    "KEY_BYTES",
    "MASTER_KEY_ENV",
    "MASTER_KEY_FILE",
    "MAX_SECRET_FILE_BYTES",
    "NEXT_KEY_FILE",
    "PREVIOUS_KEYS_ENV",
    "SEALED_FORMAT_VERSION",
    "DecryptionError",
    "EnvelopeVault",
    "KeyFileVault",
    "Keyring",
    "MasterKey",
    "MasterKeyError",
    "RotationError",
    "SealedSecret",
    "SealedSecretFormatError",
    "UnknownKeyError",
    "UnresolvedSecretError",
    "Vault",
    "VaultError",
    "associated_data",
    "begin_rotation",
    "commit_rotation",
    "create_master_key_file",
    "load_keyring",
    "pending_rotation",
    "read_master_key_file",
    "resolve_secret_reference",
    "retired_key_path",
]
