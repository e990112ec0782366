"""The audit log's entry points for a caller: verify, export, checkpoint, public key.

Each checks that ``principal`` may read the audit log (``audit.read``: administrators
and auditors) before it reads anything, then answers with the models of
:mod:`harbourmaster.services.audit_results` (the export is JSON lines).  The work is done
by :mod:`harbourmaster.services.audit_checkpoints` and
:mod:`harbourmaster.services.checkpoint_keys`, which the server's own checkpoint writer
also uses (as the system, without a principal).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.services.audit_checkpoints import audit_export_lines, emit_checkpoint, verify_audit_log
from harbourmaster.services.audit_results import AuditVerifyPublic, CheckpointKeyPublic, CheckpointPublic
from harbourmaster.services.checkpoint_keys import checkpoint_public_key
from harbourmaster.services.core import Harbourmaster
from harbourmaster.vault.signing import CheckpointPublicKey

__all__ = ["checkpoint", "export_lines", "public_key", "verify"]


def verify(
    hm: Harbourmaster,
    principal: Principal,
    *,
    checkpoint_files: Sequence[Path] = (),
    key: CheckpointPublicKey | None = None,
    incremental: bool = False,
) -> AuditVerifyPublic:
    """The chain and every checkpoint checked (see :func:`verify_audit_log`), with every checkpoint
    problem; ``ok`` only when the chain and every checkpoint are.  ``incremental``: records this process
    already found good are not read again (page views; see :func:`verify_audit_log`).

    Raises:
        Forbidden: the principal may not read the audit log.
        CheckpointFileError: a checkpoint file cannot be read or is malformed.
    """
    require(principal, Permission.AUDIT_READ)
    return AuditVerifyPublic.of(
        verify_audit_log(hm, checkpoint_files=checkpoint_files, public_key=key, incremental=incremental)
    )


def export_lines(
    hm: Harbourmaster, principal: Principal, *, since: int = 0, checkpoint: bool = True, chunk_bytes: int = 0
) -> Iterator[str]:
    """Records above ``since`` as JSON lines, then (with ``checkpoint``) a signed checkpoint line.  With
    ``chunk_bytes``, whole lines are joined into pieces of about that size (a streamed HTTP answer sends
    one piece per write: one per line would cost more than the lines).

    The permission is checked, and the checkpoint emitted, before the first line.

    Raises:
        Forbidden: the principal may not read the audit log.
        CheckpointRefused, CheckpointWriteError: as :func:`emit_checkpoint`.
    """
    require(principal, Permission.AUDIT_READ)
    lines = audit_export_lines(hm, since=since, checkpoint=checkpoint, actor=principal.audit_name)
    return _joined(lines, chunk_bytes) if chunk_bytes > 0 else lines


def _joined(lines: Iterator[str], size: int) -> Iterator[str]:
    piece: list[str] = []
    held = 0
    for line in lines:
        piece.append(line)
        held += len(line)
        if held >= size:
            yield "".join(piece)
            piece, held = [], 0
    if piece:
        yield "".join(piece)


def checkpoint(hm: Harbourmaster, principal: Principal) -> CheckpointPublic:
    """Sign the chain's newest record now (see :func:`emit_checkpoint`); the signed checkpoint is
    also written as a line (:meth:`CheckpointPublic.json_line`).

    Raises:
        Forbidden: the principal may not read the audit log.
        CheckpointRefused, CheckpointWriteError: as :func:`emit_checkpoint`.
    """
    require(principal, Permission.AUDIT_READ)
    return CheckpointPublic.of(emit_checkpoint(hm, actor=principal.audit_name))


def public_key(hm: Harbourmaster, principal: Principal) -> CheckpointKeyPublic:
    """The Ed25519 public key that checks checkpoints (made on first need).

    Raises:
        Forbidden: the principal may not read the audit log.
    """
    require(principal, Permission.AUDIT_READ)
    key = checkpoint_public_key(hm)
    return CheckpointKeyPublic(key_id=key.key_id, algorithm="ed25519", pem=key.pem())
