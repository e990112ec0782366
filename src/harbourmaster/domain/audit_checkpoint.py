"""Signed checkpoints: the audit chain's head, anchored outside the database.

A hash chain shows edits, but not a chain rewritten from the first changed
record on, cut short at its end, or replaced wholesale together with the head
stored beside it: whoever can write the database can do all three.  A
:class:`Checkpoint` is a statement, signed with an Ed25519 key that only the
vault can open, that record ``seq`` of the chain had hash ``head`` at
``time``.  Kept somewhere the database's writers cannot reach (a file, syslog,
a SIEM), checkpoints turn those three rewrites into detectable ones: every
checkpointed record must still be in the chain with the same hash.

What is signed (so any Ed25519 implementation can check a checkpoint) is
:data:`SIGNATURE_CONTEXT` followed by the canonical JSON (keys sorted, no
whitespace, UTF-8) of ``{"head", "key_id", "seq", "time"}``::

    b"harbourmaster audit checkpoint v1\\n" + b'{"head":"…","key_id":"…","seq":42,"time":"…"}'

``key_id`` is the SHA-256 (lowercase hex) of the 32-byte raw Ed25519 public
key.  A checkpoint travels as one JSON line with ``"type": "audit.checkpoint"``
(see :func:`checkpoint_to_json_line`), in the checkpoint file and at the end of
an audit export, where it tells itself apart from records by that ``type``.

A checkpoint is not itself an audit record: it is a statement about the chain,
not a change, and recording it would move the head it attests.  Its own
record is the checkpoint file and syslog.

Checking signatures needs a :class:`CheckpointKey`; the one that signs lives in
the vault layer, so this module stays free of cryptography and I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from harbourmaster.domain.audit import AuditEntry, AuditRecordError, from_json_line
from harbourmaster.errors import BadInput

__all__ = [
    "CHECKPOINT_TYPE",
    "CHECKPOINT_VERSION",
    "SIGNATURE_CONTEXT",
    "Checkpoint",
    "CheckpointFormatError",
    "CheckpointKey",
    "CheckpointVerdict",
    "CheckpointWatch",
    "LocatedCheckpoint",
    "checkpoint_from_json_line",
    "checkpoint_key_id",
    "checkpoint_payload",
    "checkpoint_to_json_line",
    "parse_export_line",
]

#: The ``type`` of a checkpoint line (audit records have no ``type``).
CHECKPOINT_TYPE = "audit.checkpoint"
#: The one checkpoint format this code writes and reads.
CHECKPOINT_VERSION = 1
#: Prefixed to what is signed, so that a checkpoint signature can never be
#: taken for a signature over anything else (domain separation).
SIGNATURE_CONTEXT = b"harbourmaster audit checkpoint v1\n"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_SIGNATURE_BYTES = 64
_PUBLIC_KEY_BYTES = 32
_LINE_FIELDS = frozenset({"type", "version", "seq", "head", "time", "key_id", "signature"})


class CheckpointFormatError(BadInput):
    """A checkpoint (or a line that should hold one) is malformed."""

    kind = "audit-checkpoint-format"


class CheckpointKey(Protocol):
    """A public key that checks checkpoint signatures."""

    @property
    def key_id(self) -> str: ...

    def verify(self, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature over ``payload``."""
        ...


def checkpoint_key_id(public_key: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key: its SHA-256, lowercase hex.

    Raises:
        CheckpointFormatError: ``public_key`` is not 32 bytes.
    """
    if not isinstance(public_key, bytes) or len(public_key) != _PUBLIC_KEY_BYTES:
        raise CheckpointFormatError(f"an Ed25519 public key is {_PUBLIC_KEY_BYTES} bytes")
    return hashlib.sha256(public_key).hexdigest()


def _check_fields(seq: object, head: object, time: object, key_id: object, where: str) -> None:
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise CheckpointFormatError(f"{where}: seq must be a positive integer")
    if not isinstance(head, str) or not _HEX64.fullmatch(head):
        raise CheckpointFormatError(f"{where}: head must be 64 lowercase hex digits (a record's hash)")
    if not isinstance(time, str) or not _TIME.fullmatch(time):
        raise CheckpointFormatError(
            f"{where}: time must be RFC 3339 UTC with microseconds, like 2026-01-02T03:04:05.000006Z"
        )
    if not isinstance(key_id, str) or not _HEX64.fullmatch(key_id):
        raise CheckpointFormatError(f"{where}: key_id must be 64 lowercase hex digits (a key fingerprint)")


def checkpoint_payload(*, seq: int, head: str, time: str, key_id: str) -> bytes:
    """The bytes a checkpoint's signature covers (see the module documentation).

    Raises:
        CheckpointFormatError: a field is malformed.
    """
    _check_fields(seq, head, time, key_id, "checkpoint")
    body = {"head": head, "key_id": key_id, "seq": seq, "time": time}
    return SIGNATURE_CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Record ``seq`` of the chain had hash ``head`` at ``time``, signed by key ``key_id``.

    ``signature`` is the 64-byte Ed25519 signature over :meth:`payload`.
    """

    seq: int
    head: str
    time: str
    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        _check_fields(self.seq, self.head, self.time, self.key_id, "checkpoint")
        if not isinstance(self.signature, bytes) or len(self.signature) != _SIGNATURE_BYTES:
            raise CheckpointFormatError(f"checkpoint: the signature must be {_SIGNATURE_BYTES} bytes")

    def payload(self) -> bytes:
        """What :attr:`signature` covers."""
        return checkpoint_payload(seq=self.seq, head=self.head, time=self.time, key_id=self.key_id)

    def as_dict(self) -> dict[str, object]:
        """The checkpoint as JSON data, signature in standard base64 (what every surface shows)."""
        return {
            "type": CHECKPOINT_TYPE,
            "version": CHECKPOINT_VERSION,
            "seq": self.seq,
            "head": self.head,
            "time": self.time,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }


def checkpoint_to_json_line(checkpoint: Checkpoint) -> str:
    """One line of canonical JSON (no newline): the checkpoint file's and the export's form."""
    return json.dumps(checkpoint.as_dict(), sort_keys=True, separators=(",", ":"))


def _from_object(obj: dict[str, object], where: str) -> Checkpoint:
    missing = sorted(_LINE_FIELDS - obj.keys())
    extra = sorted(obj.keys() - _LINE_FIELDS)
    if missing or extra:
        raise CheckpointFormatError(f"{where}: missing fields {missing}, unexpected fields {extra}")
    if obj["type"] != CHECKPOINT_TYPE:
        raise CheckpointFormatError(f"{where}: type must be {CHECKPOINT_TYPE!r}")
    if obj["version"] != CHECKPOINT_VERSION or isinstance(obj["version"], bool):
        raise CheckpointFormatError(f"{where}: version {obj['version']!r} is not supported (only 1)")
    _check_fields(obj["seq"], obj["head"], obj["time"], obj["key_id"], where)
    signature = obj["signature"]
    if not isinstance(signature, str):
        raise CheckpointFormatError(f"{where}: signature must be a base64 string")
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise CheckpointFormatError(f"{where}: signature is not valid base64") from None
    if len(raw) != _SIGNATURE_BYTES:
        raise CheckpointFormatError(f"{where}: signature must decode to {_SIGNATURE_BYTES} bytes")
    seq, head, time, key_id = obj["seq"], obj["head"], obj["time"], obj["key_id"]
    assert isinstance(seq, int) and isinstance(head, str) and isinstance(time, str)
    assert isinstance(key_id, str)
    return Checkpoint(seq=seq, head=head, time=time, key_id=key_id, signature=raw)


def _reject_constant(name: str) -> object:
    raise CheckpointFormatError(f"{name} is not allowed in checkpoint JSON")


def _load(line: str, where: str) -> dict[str, object]:
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except (json.JSONDecodeError, TypeError) as exc:
        raise CheckpointFormatError(f"{where}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise CheckpointFormatError(f"{where}: not a JSON object")
    return obj


def checkpoint_from_json_line(line: str, *, where: str = "checkpoint line") -> Checkpoint:
    """Parse a line written by :func:`checkpoint_to_json_line` (the signature is not checked here).

    ``where`` names the line in messages (e.g. ``checkpoints.jsonl line 3``).

    Raises:
        CheckpointFormatError: not a JSON object with exactly the checkpoint
            fields, of the right types.
    """
    return _from_object(_load(line, where), where)


def parse_export_line(line: str, *, where: str = "export line") -> AuditEntry | Checkpoint:
    """A line of an audit export: a record, or (with ``"type": "audit.checkpoint"``) a checkpoint.

    Raises:
        CheckpointFormatError: the line is a malformed checkpoint, or not JSON.
        AuditRecordError: the line is a malformed record.
    """
    obj = _load(line, where)
    if "type" in obj:
        return _from_object(obj, where)
    try:
        return from_json_line(line)
    except AuditRecordError as exc:
        raise AuditRecordError(f"{where}: {exc.message}") from None


@dataclass(frozen=True, slots=True)
class LocatedCheckpoint:
    """A checkpoint and where it was read (``FILE line N``), for messages."""

    where: str
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class CheckpointVerdict:
    """The outcome of checking checkpoints against a key and a chain.

    ``checked`` counts the checkpoints that passed every check.  ``problems``
    holds one line per failing checkpoint, in the order given; ``problem`` is
    the first of them.
    """

    ok: bool
    checked: int
    total: int
    problems: tuple[str, ...] = ()

    @property
    def problem(self) -> str | None:
        return self.problems[0] if self.problems else None


class CheckpointWatch:
    """Checks checkpoints while the chain streams past, in one pass and constant memory.

    Wrap the chain's records with :meth:`watch` and hand the wrapped iterator
    to :func:`~harbourmaster.domain.audit.verify_chain` (or iterate it); then
    :meth:`verdict` says, for each checkpoint, whether its signature verifies
    with ``key`` and whether record ``seq`` was seen with hash ``head``.

    ``key`` is ``None`` when no public key is available; ``no_key`` then says
    why, and every checkpoint fails with that reason.
    """

    def __init__(
        self,
        checkpoints: Sequence[LocatedCheckpoint],
        *,
        key: CheckpointKey | None,
        no_key: str = "there is no public key to check it with",
    ) -> None:
        self._checkpoints = list(checkpoints)
        self._problems: dict[int, str] = {}
        self._wanted: dict[int, list[int]] = {}
        for index, located in enumerate(self._checkpoints):
            problem = self._signature_problem(located.checkpoint, key, no_key)
            if problem is not None:
                self._problems[index] = f"{self._name(located)}: {problem}"
            else:
                self._wanted.setdefault(located.checkpoint.seq, []).append(index)
        self._seen: set[int] = set()
        self._last_seq: int | None = None

    @staticmethod
    def _name(located: LocatedCheckpoint) -> str:
        return f"checkpoint at {located.where} (seq {located.checkpoint.seq})"

    @staticmethod
    def _signature_problem(checkpoint: Checkpoint, key: CheckpointKey | None, no_key: str) -> str | None:
        if key is None:
            return f"cannot be checked: {no_key}"
        if checkpoint.key_id != key.key_id:
            return (
                f"signed by key {checkpoint.key_id}, not by the checkpoint key {key.key_id} "
                "(a forged checkpoint, or the signing key was replaced)"
            )
        if not key.verify(checkpoint.payload(), checkpoint.signature):
            return "the signature does not verify (the checkpoint was forged or edited)"
        return None

    def watch(self, entries: Iterable[AuditEntry]) -> Iterator[AuditEntry]:
        """``entries``, unchanged, observed on the way through."""
        for entry in entries:
            self._observe(entry)
            yield entry

    def _observe(self, entry: AuditEntry) -> None:
        seq = entry.seq
        if not isinstance(seq, int) or isinstance(seq, bool):
            return
        if self._last_seq is None or seq > self._last_seq:
            self._last_seq = seq
        indexes = self._wanted.get(seq)
        if not indexes or seq in self._seen:
            return  # a repeated seq is the chain's own problem; the first one counts here
        self._seen.add(seq)
        for index in indexes:
            cp = self._checkpoints[index].checkpoint
            if entry.hash != cp.head:
                self._problems[index] = (
                    f"{self._name(self._checkpoints[index])}: record {seq} has hash {entry.hash}, "
                    f"the checkpoint says {cp.head} (the chain was rewritten)"
                )

    def verdict(self) -> CheckpointVerdict:
        """Every checkpoint's outcome, given the records seen so far."""
        problems = dict(self._problems)
        last = self._last_seq
        ends = "the chain is empty" if last is None else f"the chain ends at record {last}"
        for seq, indexes in self._wanted.items():
            if seq in self._seen:
                continue
            if self._last_seq is not None and seq < self._last_seq:
                why = "it was deleted"
            else:
                why = f"{ends} (records were cut off, or the chain was replaced)"
            for index in indexes:
                problems.setdefault(
                    index, f"{self._name(self._checkpoints[index])}: record {seq} is not in the chain; {why}"
                )
        ordered = tuple(problems[i] for i in sorted(problems))
        total = len(self._checkpoints)
        return CheckpointVerdict(ok=not ordered, checked=total - len(ordered), total=total, problems=ordered)
