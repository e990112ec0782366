"""The checkpoint file and syslog: where checkpoints are kept outside the database.

Checkpoints are appended as JSON lines (one ``write`` per line, ``O_APPEND``,
fsynced; the file is created 0600) and sent to a syslog socket when there is
one.  A checkpoint file to check against may also be an audit export, whose
closing checkpoint line is read and whose records are skipped.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from harbourmaster.domain.audit import AuditEntry, AuditRecordError
from harbourmaster.domain.audit_checkpoint import (
    Checkpoint,
    CheckpointFormatError,
    LocatedCheckpoint,
    parse_export_line,
)
from harbourmaster.errors import BadInput, Error

__all__ = [
    "CheckpointFileError",
    "CheckpointWriteError",
    "append_checkpoint_line",
    "last_checkpoint",
    "read_checkpoints",
    "send_to_syslog",
]

log = logging.getLogger(__name__)

#: The longest line read from a checkpoint file (exports, whose records can be long, included).
_MAX_LINE = 1024 * 1024
#: How much of the end of the checkpoint file is read to find its last line.
_TAIL = 64 * 1024
#: syslog priority: facility auth (4), severity info (6).
_SYSLOG_PRIORITY = 4 * 8 + 6


class CheckpointFileError(BadInput):
    """A checkpoint file cannot be read, or a line of it is not a checkpoint."""

    kind = "audit-checkpoint-file"


class CheckpointWriteError(Error):
    """The checkpoint file cannot be written."""

    kind = "audit-checkpoint-write"
    status = 500


def _parse_line(raw: bytes, where: str) -> AuditEntry | Checkpoint:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckpointFileError(f"{where}: not UTF-8 text") from None
    try:
        return parse_export_line(text, where=where)
    except CheckpointFormatError as exc:
        raise CheckpointFileError(exc.message) from None
    except AuditRecordError as exc:
        raise CheckpointFileError(
            f"{where}: neither a checkpoint (no \"type\": \"audit.checkpoint\") nor an audit record",
            details=[exc.message],
        ) from None


def read_checkpoints(path: Path, *, require_any: bool = True) -> list[LocatedCheckpoint]:
    """Every checkpoint in ``path``: a checkpoint file, or an audit export (its records are skipped).

    Raises:
        CheckpointFileError: ``path`` cannot be read, a line is neither a
            checkpoint nor an audit record (the message names the file and
            line), or (with ``require_any``) it holds no checkpoint.
    """
    found: list[LocatedCheckpoint] = []
    try:
        with path.open("rb") as handle:
            number = 0
            while raw := handle.readline(_MAX_LINE + 1):
                number += 1
                where = f"{path} line {number}"
                if len(raw) > _MAX_LINE:
                    raise CheckpointFileError(f"{where}: longer than {_MAX_LINE} bytes")
                if not raw.strip():
                    continue
                item = _parse_line(raw, where)
                if isinstance(item, Checkpoint):
                    found.append(LocatedCheckpoint(where, item))
    except FileNotFoundError:
        raise CheckpointFileError(f"checkpoint file {path} does not exist") from None
    except IsADirectoryError:
        raise CheckpointFileError(f"checkpoint file {path} is a directory") from None
    except OSError as exc:
        raise CheckpointFileError(f"checkpoint file {path} cannot be read: {exc.strerror}") from None
    if require_any and not found:
        raise CheckpointFileError(f"checkpoint file {path} holds no checkpoint")
    return found


def last_checkpoint(path: Path) -> LocatedCheckpoint | None:
    """The checkpoint on the last line of ``path``; ``None`` when the file is missing or empty.

    Raises:
        CheckpointFileError: the file cannot be read, or its last line is not a checkpoint.
    """
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            start = max(0, size - _TAIL)
            handle.seek(start)
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CheckpointFileError(f"checkpoint file {path} cannot be read: {exc.strerror}") from None
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first piece may be the end of a longer line
    for raw in reversed(lines):
        if raw.strip():
            item = _parse_line(raw, f"{path} (last line)")
            if not isinstance(item, Checkpoint):
                raise CheckpointFileError(f"{path} (last line): an audit record, not a checkpoint")
            return LocatedCheckpoint(f"{path} (last line)", item)
    return None


def append_checkpoint_line(path: Path, line: str) -> None:
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise CheckpointWriteError(
            f"audit checkpoint file {path} cannot be opened for appending: {exc.strerror}",
            details=["set HARBOURMASTER_AUDIT_CHECKPOINT_FILE to a writable file"],
        ) from None
    try:
        # O_APPEND and one write per line: writers in other processes never interleave a line.
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as exc:
        raise CheckpointWriteError(
            f"audit checkpoint file {path} cannot be written: {exc.strerror}"
        ) from None
    finally:
        os.close(fd)


def send_to_syslog(address: str, line: str) -> None:
    """Send ``line`` to the syslog socket at ``address``; never fails (a missing syslog is logged)."""
    if not address:
        log.debug("audit checkpoint not sent to syslog: HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG is empty")
        return
    if not os.path.exists(address):
        log.debug("audit checkpoint not sent to syslog: there is no syslog socket at %s", address)
        return
    message = f"<{_SYSLOG_PRIORITY}>harbourmaster: audit-checkpoint {line}".encode()
    last_error = ""
    for kind, payload in ((socket.SOCK_DGRAM, message), (socket.SOCK_STREAM, message + b"\0")):
        try:
            with socket.socket(socket.AF_UNIX, kind) as sock:
                sock.settimeout(2)
                sock.connect(address)
                sock.sendall(payload)
        except OSError as exc:
            last_error = exc.strerror or type(exc).__name__
            continue
        log.debug("audit checkpoint sent to syslog at %s", address)
        return
    log.debug("audit checkpoint not sent to syslog at %s: %s", address, last_error)
