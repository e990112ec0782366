"""Audit checkpoints: the chain's head signed by the vault's key and kept outside the database.

:func:`emit_checkpoint` checks that the chain still extends the last
checkpoint, signs its newest record, appends the checkpoint to the checkpoint
file (``HARBOURMASTER_AUDIT_CHECKPOINT_FILE``, mode 0600) and sends it to
syslog.  :func:`verify_audit_log` checks the chain, and every checkpoint given
(plus the checkpoint file, when it exists) against it.  :class:`CheckpointWriter`
is what ``serve`` runs to emit one every interval when the chain grew.

The signing key is :mod:`harbourmaster.services.checkpoint_keys`: made on
first need, sealed by the vault, and kept by the store's audit repository.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from harbourmaster.domain.audit import (
    AuditEntry,
    ChainVerdict,
    VerifiedPrefix,
    format_audit_time,
    to_json_line,
    verify_chain,
)
from harbourmaster.domain.audit_checkpoint import (
    Checkpoint,
    CheckpointVerdict,
    CheckpointWatch,
    LocatedCheckpoint,
    checkpoint_payload,
    checkpoint_to_json_line,
)
from harbourmaster.errors import BadInput, Error
from harbourmaster.services.checkpoint_files import (
    CheckpointFileError,
    CheckpointWriteError,
    append_checkpoint_line,
    last_checkpoint,
    read_checkpoints,
    send_to_syslog,
)
from harbourmaster.services.checkpoint_keys import CheckpointRefused, checkpoint_signer, stored_public_key
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import AuditRepository
from harbourmaster.vault.signing import CheckpointPublicKey, CheckpointSigner

__all__ = [
    "AuditVerification",
    "CheckpointFileError",
    "CheckpointWriteError",
    "CheckpointWriter",
    "audit_export_lines",
    "emit_checkpoint",
    "last_checkpoint",
    "read_checkpoints",
    "verify_audit_log",
]

log = logging.getLogger(__name__)

#: An incremental verification (page views) verifies the whole chain again once its last whole
#: verification in this process is older than this; ``audit verify`` always verifies all of it.
FULL_VERIFY_EVERY: Final = dt.timedelta(hours=1)


#: One emission at a time in this process.
_EMITTING = threading.Lock()


# -- emitting -------------------------------------------------------------------


def _verified_head(
    audit: AuditRepository, last: LocatedCheckpoint | None, signer: CheckpointSigner
) -> tuple[int, str]:
    """The newest record, once the chain from the last checkpoint (or from its start) verifies."""
    stored = audit.head()
    if last is None:
        verdict = verify_chain(audit.entries(), expected_head=stored)
    else:
        cp = last.checkpoint
        if stored is not None and stored[0] < cp.seq:
            raise CheckpointRefused(
                f"the audit log's stored head is record {stored[0]}, behind the last checkpoint "
                f"({last.where}, seq {cp.seq}): records were cut off",
                details=["run 'harbourmaster audit verify' to see what changed"],
            )
        entries = audit.entries(after=cp.seq - 1)
        first = next(entries, None)
        watch = CheckpointWatch([last], key=signer.public_key)
        stream = watch.watch(_prepend(first, entries))
        after = (cp.seq - 1, first.prev_hash if first is not None else "")
        verdict = verify_chain(stream, after=after, expected_head=stored)
        extends = watch.verdict()
        if not extends.ok:
            raise CheckpointRefused(
                f"the audit log does not extend the last checkpoint: {extends.problem}",
                details=["run 'harbourmaster audit verify' to see what changed"],
            )
    if not verdict.ok:
        raise CheckpointRefused(
            f"the audit log is broken at record {verdict.first_bad_seq}: {verdict.problem}",
            details=["a checkpoint is signed only over an intact chain; run 'harbourmaster audit verify'"],
        )
    if verdict.head is None:
        raise CheckpointRefused("the audit log is empty: there is nothing to checkpoint")
    return verdict.head


def _prepend(first: AuditEntry | None, rest: Iterator[AuditEntry]) -> Iterator[AuditEntry]:
    if first is not None:
        yield first
    yield from rest


def emit_checkpoint(hm: Harbourmaster, *, actor: str = "system") -> Checkpoint:
    """Sign the chain's newest record and append the checkpoint to the file and syslog.

    ``actor`` (who asked) goes to the server log only: a checkpoint is not an
    audit record (see :mod:`harbourmaster.domain.audit_checkpoint`).

    The chain is verified first, from the last checkpoint in the file (or
    from its start when there is none), so a checkpoint never vouches for a
    rewritten chain.

    Raises:
        CheckpointRefused: the chain is broken, empty, or does not extend the
            last checkpoint; or its key was deleted (see :func:`checkpoint_signer`).
        CheckpointWriteError: the checkpoint file cannot be written.
        VaultError, StoreError: the key cannot be opened, or the database read.
    """
    path = hm.settings.audit_checkpoint_file
    signer = checkpoint_signer(hm)
    # One emission at a time in this process, so the file's lines follow the chain's order.
    with _EMITTING:
        try:
            last = last_checkpoint(path)
        except CheckpointFileError as exc:
            raise CheckpointRefused(
                f"the last checkpoint cannot be read: {exc.message}",
                details=["the checkpoint file was damaged: run 'harbourmaster audit verify'"],
            ) from None
        with hm.store.read() as tx:
            seq, head = _verified_head(tx.audit, last, signer)
        time = format_audit_time(hm.clock.now())
        payload = checkpoint_payload(seq=seq, head=head, time=time, key_id=signer.key_id)
        checkpoint = Checkpoint(
            seq=seq, head=head, time=time, key_id=signer.key_id, signature=signer.sign(payload)
        )
        line = checkpoint_to_json_line(checkpoint)
        append_checkpoint_line(path, line)
    send_to_syslog(hm.settings.audit_checkpoint_syslog, line)
    log.info("audit checkpoint for %s written to %s: record %d, head %s", actor, path, seq, head)
    return checkpoint


def audit_export_lines(
    hm: Harbourmaster, *, since: int = 0, checkpoint: bool = True, actor: str = "system"
) -> Iterator[str]:
    """The export: records with ``seq`` above ``since``, one JSON line each, then a checkpoint line.

    With ``checkpoint`` a checkpoint is emitted now (before the first line, so
    errors come before any output); the export then ends at the record it
    covers, with the checkpoint line (``"type": "audit.checkpoint"``).

    Raises:
        CheckpointRefused, CheckpointWriteError: as :func:`emit_checkpoint`.
    """
    emitted = emit_checkpoint(hm, actor=actor) if checkpoint else None
    return _export(hm, since, emitted)


def _export(hm: Harbourmaster, since: int, emitted: Checkpoint | None) -> Iterator[str]:
    with hm.store.read() as tx:
        for entry in tx.audit.entries(after=since):
            if emitted is not None and entry.seq > emitted.seq:
                break
            yield to_json_line(entry) + "\n"
    if emitted is not None:
        yield checkpoint_to_json_line(emitted) + "\n"


# -- verifying ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The chain's own verdict and the checkpoints' verdict; ``ok`` only when both are."""

    chain: ChainVerdict
    checkpoints: CheckpointVerdict
    sources: tuple[str, ...]
    #: When the whole chain was last verified from its first record (None: not known to be); records
    #: after ``incremental_after`` were verified now, as a stretch after that verified record.
    full_at: dt.datetime | None = None
    incremental_after: int | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.checkpoints.ok


def verify_audit_log(
    hm: Harbourmaster,
    *,
    checkpoint_files: Sequence[Path] = (),
    public_key: CheckpointPublicKey | None = None,
    include_configured: bool = True,
    incremental: bool = False,
) -> AuditVerification:
    """Check the chain, and every checkpoint in ``checkpoint_files`` and (with
    ``include_configured``, when it exists) the configured checkpoint file.

    Each checkpoint's signature must verify with ``public_key`` (default: the
    key the vault holds; the vault is not opened when ``public_key`` is
    given), and its record must still be in the chain with the same hash.
    A damaged configured file is reported as a checkpoint problem.

    With ``incremental``, a chain this process verified from its first record within
    :data:`FULL_VERIFY_EVERY` is checked from the last record it found good (whose hash must be
    unchanged), and the checkpoints at or before that record against those records alone: a page
    view costs the records added since, not the whole log.  Every other call, and one after the
    interval, verifies from the first record; each good verification moves the known-good record on.

    Raises:
        CheckpointFileError: a file in ``checkpoint_files`` cannot be read, is
            malformed, or holds no checkpoint.
    """
    located: list[LocatedCheckpoint] = []
    sources: list[str] = []
    for path in checkpoint_files:
        located += read_checkpoints(path)
        sources.append(str(path))
    damaged: str | None = None
    configured = hm.settings.audit_checkpoint_file
    given = {p.resolve() for p in checkpoint_files}
    if include_configured and configured.exists() and configured.resolve() not in given:
        try:
            located += read_checkpoints(configured, require_any=False)
        except CheckpointFileError as exc:
            damaged = exc.message
        sources.append(str(configured))
    key, no_key = public_key, ""
    if key is None and located:
        key, no_key = stored_public_key(hm)
    watch = CheckpointWatch(located, key=key, no_key=no_key)
    now = hm.clock.now()
    known = hm.verified_audit_prefix() if incremental else None
    if known is not None and now - known.full_at > FULL_VERIFY_EVERY:
        known = None
    with hm.store.read() as tx:
        head = tx.audit.head()
        if known is not None:
            # The known-good record must be there unchanged, and the chain must not have shrunk.
            earlier = [c.checkpoint.seq for c in located if c.checkpoint.seq <= known.seq]
            kept = tx.audit.entries_at([*earlier, known.seq])
            anchor = next((e for e in kept if e.seq == known.seq), None)
            if (anchor is None or anchor.hash != known.hash or not verify_chain(
                    [anchor], after=(known.seq - 1, anchor.prev_hash)).ok  # its content still hashes to it
                    or head is None or head[0] < known.seq
                    or (head[0] == known.seq and head[1] != known.hash)):  # fmt: skip
                known = None
            else:
                for _ in watch.watch(kept):  # the earlier checkpoints' records, and the known-good one
                    pass
        stream = watch.watch(tx.audit.entries(after=known.seq if known is not None else -1))
        chain = verify_chain(stream, expected_head=head,
                             after=(known.seq, known.hash) if known is not None else None)
        for _ in stream:  # the checkpoints look past a break in the chain too
            pass
    full_at = known.full_at if known is not None else now
    if known is not None:
        chain = replace(chain, count=known.count + chain.count)
    if chain.ok and chain.head is not None:
        hm.keep_verified_audit_prefix(VerifiedPrefix(seq=chain.head[0], hash=chain.head[1], count=chain.count,
                                                     full_at=full_at))
    elif not chain.ok:
        hm.keep_verified_audit_prefix(None)  # the next look verifies from the first record
    verdict = watch.verdict()
    if damaged is not None:
        verdict = replace(verdict, ok=False, problems=(damaged, *verdict.problems))
    return AuditVerification(chain=chain, checkpoints=verdict, sources=tuple(sources),
                             full_at=full_at if chain.ok else None,
                             incremental_after=known.seq if known is not None else None)


# -- the periodic writer --------------------------------------------------------


class CheckpointWriter:
    """Emits a checkpoint every ``interval`` seconds when the chain's head moved since the last one.

    ``serve`` starts one with the application and stops it on shutdown.
    Failures are logged (an error for a refused checkpoint: the chain changed
    under it) and the writer carries on.
    """

    def __init__(self, hm: Harbourmaster, *, interval: float) -> None:
        if interval <= 0:
            raise BadInput("the audit checkpoint interval must be positive")
        self.hm = hm
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Checkpoint | None:
        """Emit a checkpoint if the head moved since the last one; the checkpoint, or ``None``."""
        try:
            with self.hm.store.read() as tx:
                head = tx.audit.head()
            if head is None:
                return None
            try:
                last = last_checkpoint(self.hm.settings.audit_checkpoint_file)
            except CheckpointFileError:
                last = None  # emit_checkpoint refuses, and says why
            if last is not None and (last.checkpoint.seq, last.checkpoint.head) == head:
                return None
            return emit_checkpoint(self.hm)
        except CheckpointRefused as exc:
            log.error("audit checkpoint refused: %s", exc.diagnostics())
        except Error as exc:
            log.warning("audit checkpoint not written: %s", exc.diagnostics())
        except Exception:  # the writer must outlive any one failure
            log.exception("audit checkpoint not written")
        return None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self, timeout: float = 30) -> None:
        """Stop after the current checkpoint, if one is being written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
