"""Where the sealed audit checkpoint signing key is kept: one row of the ``meta`` table.

The row holds only what the vault sealed (base64 of the sealed bytes); the
public key is derived from the opened private key each time, never read from
the database, so a row written by someone without the master key is useless.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from sqlalchemy.orm import Session

from harbourmaster.store.database import StoreError
from harbourmaster.store.models import MetaRow

__all__ = [
    "CHECKPOINT_KEY_FIELD",
    "CHECKPOINT_KEY_META",
    "CHECKPOINT_KEY_RECORD",
    "load_checkpoint_key",
    "rewrap_checkpoint_key",
    "save_checkpoint_key",
]

#: The ``meta`` key of the row.
CHECKPOINT_KEY_META = "audit_checkpoint_key"
#: The record and field the private key is sealed for (its vault binding).
CHECKPOINT_KEY_RECORD = "audit-checkpoint"
CHECKPOINT_KEY_FIELD = "signing_key"


def load_checkpoint_key(session: Session) -> bytes | None:
    """The sealed key's bytes, or ``None`` when none was made yet (or the row was deleted).

    Raises:
        StoreError: the row exists but does not hold base64 sealed bytes.
    """
    row = session.get(MetaRow, CHECKPOINT_KEY_META)
    if row is None:
        return None
    value = row.value.get("sealed") if isinstance(row.value, dict) else None
    if not isinstance(value, str):
        raise StoreError(f"meta row {CHECKPOINT_KEY_META}: has no sealed key")
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise StoreError(f"meta row {CHECKPOINT_KEY_META}: the sealed key is not base64") from None


def save_checkpoint_key(session: Session, sealed: bytes) -> None:
    """Keep ``sealed`` (the vault's output) as the checkpoint key, replacing any other."""
    value = {"algorithm": "ed25519", "sealed": base64.b64encode(sealed).decode("ascii")}
    row = session.get(MetaRow, CHECKPOINT_KEY_META)
    if row is None:
        session.add(MetaRow(key=CHECKPOINT_KEY_META, value=value))
    else:
        row.value = value
    session.flush()


def rewrap_checkpoint_key(session: Session, rewrap: Callable[[str, str, bytes], bytes]) -> int:
    """Replace the sealed key with ``rewrap(record, field, blob)``; 1 when there was one, else 0."""
    sealed = load_checkpoint_key(session)
    if sealed is None:
        return 0
    save_checkpoint_key(session, rewrap(CHECKPOINT_KEY_RECORD, CHECKPOINT_KEY_FIELD, sealed))
    return 1
