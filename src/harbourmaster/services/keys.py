"""``harbourmaster keys rotate``: re-wrap every data key under a new master key, atomically.

Sequence (each step can be repeated after a crash):
1. the new key is written to ``master.key.next`` (the keyring accepts it for opening);
2. one database transaction re-wraps every data key under it; secret
   ciphertexts are untouched, so nothing is ever decrypted here;
3. ``master.key.next`` is renamed over ``master.key``, and the old key file is
   erased (overwritten and removed) unless ``keep_retired`` asks to keep it as
   ``master.key.<key_id>.retired`` for opening restored backups.
A failure in step 2 rolls the transaction back and leaves the old key primary.
"""

from __future__ import annotations

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.services.checkpoint_keys import rewrap_checkpoint_key
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.results import KeyRotationPublic
from harbourmaster.vault.envelope import EnvelopeVault
from harbourmaster.vault.interface import SealedSecret
from harbourmaster.vault.keyfile import begin_rotation, commit_rotation, load_keyring, retired_key_path

__all__ = ["RotationReport", "rotate_master_key"]


#: What a rotation did (one model with ``keys rotate --json``).
RotationReport = KeyRotationPublic


def rotate_master_key(
    hm: Harbourmaster, principal: Principal, *, keep_retired: bool = False
) -> RotationReport:
    """Rotate the master key file; the old key is erased unless ``keep_retired``.

    Raises:
        Forbidden: ``principal`` may not rotate keys (administrators only).
        RotationError: the master key comes from the environment.
        VaultError: a sealed secret cannot be re-wrapped (nothing changes).
    """
    require(principal, Permission.KEYS_ROTATE)
    home, environ = hm.settings.home, hm.settings.environ
    old_primary = load_keyring(home, environ).primary
    new_key = begin_rotation(home, environ=environ)
    vault = EnvelopeVault(load_keyring(home, environ).with_primary(new_key))

    def rewrap(record: str, field: str, blob: bytes) -> bytes:
        return vault.rewrap(SealedSecret.from_bytes(blob), record=record, field=field).to_bytes()

    with hm.store.transaction() as tx:
        count = (tx.governance.rewrap(rewrap) + rewrap_checkpoint_key(tx.audit, rewrap)
                 + tx.signing.rewrap(rewrap))
        tx.audit.append(
            actor=principal.audit_name,
            action="keys.rotate",
            target="master key",
            details={
                "old_key_id": old_primary.key_id,
                "new_key_id": new_key.key_id,
                "rewrapped": count,
                "retired_key_kept": keep_retired,
            },
        )
    commit_rotation(home, environ=environ, keep_retired=keep_retired)
    hm.reload_vault()
    kept = str(retired_key_path(home, old_primary.key_id)) if keep_retired else None
    return RotationReport(
        old_key_id=old_primary.key_id, new_key_id=new_key.key_id, rewrapped=count, retired_key_file=kept
    )
