from __future__ import annotations

import harbourmaster.vault as vault
from harbourmaster.errors import Error

EXPECTED = {
    "KEY_BYTES", "MASTER_KEY_ENV", "MASTER_KEY_FILE", "MAX_SECRET_FILE_BYTES", "NEXT_KEY_FILE",
    "PREVIOUS_KEYS_ENV", "SEALED_FORMAT_VERSION", "DecryptionError", "EnvelopeVault", "KeyFileVault",
    "Keyring", "MasterKey", "MasterKeyError", "RotationError", "SealedSecret", "SealedSecretFormatError",
    "UnknownKeyError", "UnresolvedSecretError", "Vault", "VaultError", "associated_data",
    "begin_rotation", "commit_rotation", "create_master_key_file", "load_keyring", "pending_rotation",
    "read_master_key_file", "resolve_secret_reference", "retired_key_path",
}


def test_public_names_are_pinned() -> None:
    assert set(vault.__all__) == EXPECTED
    assert all(hasattr(vault, name) for name in vault.__all__)


def test_every_vault_error_is_in_the_tree() -> None:
    errors = [getattr(vault, n) for n in vault.__all__ if n.endswith("Error")]
    assert errors
    assert all(issubclass(e, vault.VaultError) and issubclass(e, Error) for e in errors)
    assert len({e.kind for e in errors}) == len(errors)
