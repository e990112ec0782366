"""The audit checkpoint signing key: made on first need, sealed by the vault, kept by the store's audit
repository (``checkpoint_key``), and rewrapped with the vault's other secrets.

:func:`checkpoint_signer` signs the checkpoints of
:mod:`harbourmaster.services.audit_checkpoints`; :func:`checkpoint_public_key` is what checks them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from harbourmaster.errors import Error
from harbourmaster.services.checkpoint_files import CheckpointFileError, last_checkpoint
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import AuditRepository, Rewrap
from harbourmaster.vault.interface import SealedSecret
from harbourmaster.vault.signing import (
    CheckpointPublicKey,
    CheckpointSigner,
    generate_checkpoint_key,
    open_checkpoint_key,
)

__all__ = [
    "CHECKPOINT_KEY_FIELD",
    "CHECKPOINT_KEY_RECORD",
    "CheckpointRefused",
    "checkpoint_public_key",
    "checkpoint_signer",
    "rewrap_checkpoint_key",
    "stored_public_key",
]

log = logging.getLogger(__name__)

#: The record and field the checkpoint signing key is sealed for (its vault binding).
CHECKPOINT_KEY_RECORD = "audit-checkpoint"
CHECKPOINT_KEY_FIELD = "signing_key"


class CheckpointRefused(Error):
    """No checkpoint is signed: the chain is broken, or no longer extends the last checkpoint, or its
    signing key is gone while checkpoints signed with it remain."""

    kind = "audit-checkpoint-refused"
    status = 409


def checkpoint_signer(hm: Harbourmaster) -> CheckpointSigner:
    """The checkpoint signer, its key made (and sealed into the database) on first need.

    Raises:
        CheckpointRefused: the database holds no key, but the checkpoint file
            holds checkpoints: the key was deleted (or this is another
            database); a new key is not made over them.
        VaultError: the stored key does not open with the master key.
        StoreError: the database cannot be read or written.
    """
    with hm.store.read() as tx:
        sealed = tx.audit.checkpoint_key()
    if sealed is None:
        with hm.store.transaction() as tx:
            tx.governance.lock()  # one key, however many processes need it at once
            sealed = tx.audit.checkpoint_key()
            if sealed is None:
                _refuse_new_key_over_checkpoints(hm.settings.audit_checkpoint_file)
                signer, new = generate_checkpoint_key(
                    hm.vault, record=CHECKPOINT_KEY_RECORD, field=CHECKPOINT_KEY_FIELD
                )
                tx.audit.save_checkpoint_key(new.to_bytes())
                log.info("audit checkpoint signing key created: %s", signer.key_id)
                return signer
    return _open(hm, sealed)


def rewrap_checkpoint_key(audit: AuditRepository, rewrap: Rewrap) -> int:
    """Replace the sealed signing key with ``rewrap(record, field, sealed)``; 1 when there was one, else 0.

    Raises:
        StoreError: what is stored is not a sealed key.
    """
    sealed = audit.checkpoint_key()
    if sealed is None:
        return 0
    audit.save_checkpoint_key(rewrap(CHECKPOINT_KEY_RECORD, CHECKPOINT_KEY_FIELD, sealed))
    return 1


def _open(hm: Harbourmaster, sealed: bytes) -> CheckpointSigner:
    return open_checkpoint_key(
        hm.vault, SealedSecret.from_bytes(sealed), record=CHECKPOINT_KEY_RECORD, field=CHECKPOINT_KEY_FIELD
    )


def _refuse_new_key_over_checkpoints(path: Path) -> None:
    try:
        last = last_checkpoint(path)
    except CheckpointFileError:
        last = None
        exists = path.exists()
    else:
        exists = last is not None
    if exists:
        signed_by = f" signed by key {last.checkpoint.key_id}" if last is not None else ""
        raise CheckpointRefused(
            f"the database holds no audit checkpoint signing key, but {path} holds checkpoints{signed_by}",
            details=[
                "the key was deleted from the database, or this is not the database those checkpoints "
                "belong to: run 'harbourmaster audit verify'",
                f"to start over with a new key on purpose, move {path} aside first",
            ],
        )


def checkpoint_public_key(hm: Harbourmaster) -> CheckpointPublicKey:
    """The public key that checks this database's checkpoints (the key is made on first need).

    Raises:
        CheckpointRefused, VaultError, StoreError: as :func:`checkpoint_signer`.
    """
    return checkpoint_signer(hm).public_key


def stored_public_key(hm: Harbourmaster) -> tuple[CheckpointPublicKey | None, str]:
    """The stored key's public half, or why there is none.  Never makes a key."""
    try:
        with hm.store.read() as tx:
            sealed = tx.audit.checkpoint_key()
        if sealed is None:
            return None, (
                "the database holds no checkpoint signing key (it was deleted, or this is not the "
                "database that signed it); check with the published public key instead"
            )
        signer = _open(hm, sealed)
    except Error as exc:
        return None, (
            f"the checkpoint signing key in the database is unusable ({exc.message}): it was replaced, "
            "or this is not its master key"
        )
    return signer.public_key, ""
