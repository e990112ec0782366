"""``harbourmaster keys rotate``: re-wrap every data key under a new master key, atomically.

Sequence (each step can be repeated after a crash):
1. the new key is written to ``master.key.next`` (the keyring accepts it for opening);
2. one database transaction re-wraps every data key under it; secret
   ciphertexts are untouched, so nothing is ever decrypted here;
3. ``master.key.next`` is renamed over ``master.key`` and the old key retired.
A failure in step 2 rolls the transaction back and leaves the old key primary.
"""

from __future__ import annotations

from dataclasses import dataclass

from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.governance import rewrap_all
from harbourmaster.vault.envelope import EnvelopeVault
from harbourmaster.vault.interface import SealedSecret
from harbourmaster.vault.keyfile import begin_rotation, commit_rotation, load_keyring

__all__ = ["RotationReport", "rotate_master_key"]


@dataclass(frozen=True, slots=True)
class RotationReport:
    old_key_id: str
    new_key_id: str
    rewrapped: int


def rotate_master_key(hm: Harbourmaster, *, actor: str) -> RotationReport:
    """Rotate the master key file.

    Raises:
        RotationError: the master key comes from the environment.
        VaultError: a sealed secret cannot be re-wrapped (nothing changes).
    """
    home, environ = hm.settings.home, hm.settings.environ
    old_primary = load_keyring(home, environ).primary
    new_key = begin_rotation(home, environ=environ)
    vault = EnvelopeVault(load_keyring(home, environ).with_primary(new_key))

    def rewrap(record: str, field: str, blob: bytes) -> bytes:
        return vault.rewrap(SealedSecret.from_bytes(blob), record=record, field=field).to_bytes()

    with hm.db.transaction() as session:
        count = rewrap_all(session, rewrap)
        append_audit(
            session,
            actor=actor,
            action="keys.rotate",
            target="master key",
            details={"old_key_id": old_primary.key_id, "new_key_id": new_key.key_id, "rewrapped": count},
        )
    commit_rotation(home, environ=environ)
    hm.reload_vault()
    return RotationReport(old_primary.key_id, new_key.key_id, count)
