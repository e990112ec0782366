"""What the audit log's services return (:mod:`harbourmaster.services.audit_log`): the API's
``response_model`` and the CLI's ``--json``, as :mod:`harbourmaster.services.results` does for governance."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel

from harbourmaster.domain.audit_checkpoint import (
    Checkpoint,
    checkpoint_from_json_line,
    checkpoint_to_json_line,
)

if TYPE_CHECKING:  # services import this module: no cycle at run time
    from harbourmaster.services.audit_checkpoints import AuditVerification

__all__ = ["AuditVerifyPublic", "CheckpointKeyPublic", "CheckpointPublic"]


class AuditVerifyPublic(BaseModel):
    """The chain (``count``, ``first_bad_seq``, ``problem``) and the checkpoints (``checkpoint_*``)
    checked; ``ok`` only when both are.  ``checkpoint_problems`` has a line per failing checkpoint, in
    the order checked; ``checkpoint_problem`` is the first of them."""

    ok: bool
    count: int
    first_bad_seq: int | None
    problem: str | None
    checkpoints: int
    checkpoints_checked: int
    checkpoint_problem: str | None
    checkpoint_sources: list[str]
    checkpoint_problems: list[str]
    #: When the whole chain was last verified from its first record (now, unless the caller asked for
    #: an incremental check); None when the chain is broken.
    full_verified_at: dt.datetime | None = None
    #: An incremental check: the chain up to this record was known good, records after it were verified.
    verified_after: int | None = None

    @classmethod
    def of(cls, result: AuditVerification) -> AuditVerifyPublic:
        chain, checked = result.chain, result.checkpoints
        return cls(
            ok=result.ok,
            count=chain.count,
            first_bad_seq=chain.first_bad_seq,
            problem=chain.problem,
            checkpoints=checked.total,
            checkpoints_checked=checked.checked,
            checkpoint_problem=checked.problem,
            checkpoint_sources=list(result.sources),
            checkpoint_problems=list(checked.problems),
            full_verified_at=result.full_at,
            verified_after=result.incremental_after,
        )

    @property
    def chain_ok(self) -> bool:
        """The hash chain alone verified (a broken chain names the record it breaks at)."""
        return self.first_bad_seq is None and self.problem is None


class CheckpointPublic(BaseModel):
    """A signed audit checkpoint: record ``seq`` had hash ``head`` at ``time``.

    ``signature`` (base64) is Ed25519 by key ``key_id`` over the prefix
    ``harbourmaster audit checkpoint v1\\n`` and the canonical JSON of
    ``{head, key_id, seq, time}``."""

    type: str
    version: int
    seq: int
    head: str
    time: str
    key_id: str
    signature: str

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointPublic:
        # The checkpoint's own JSON form: the signed payload's fields, as the checkpoint file holds them.
        return cls.model_validate(checkpoint.as_dict())

    def json_line(self) -> str:
        """The checkpoint's line in a checkpoint file (canonical JSON, no newline), as ``verify`` reads it."""
        return checkpoint_to_json_line(checkpoint_from_json_line(self.model_dump_json(), where="checkpoint"))


class CheckpointKeyPublic(BaseModel):
    """The public key that checks checkpoint signatures; ``key_id`` is the SHA-256 of the raw key."""

    key_id: str
    algorithm: str
    pem: str
