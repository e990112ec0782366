"""Operations that reach outside (a registry) are audited when they fail too, with the reason."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster

__all__ = ["failure_audited"]


@contextmanager
def failure_audited(
    hm: Harbourmaster, *, actor: str, action: str, target: str, details: Mapping[str, object]
) -> Iterator[None]:
    """Run the block; when it raises a harbourmaster :class:`Error`, record ``action`` on ``target`` as
    failed, with ``details`` and the error's message (never more: messages carry no secret), in a
    transaction of its own, then let the error go on."""
    try:
        yield
    except Error as exc:
        with hm.store.transaction() as tx:
            tx.audit.append(
                actor=actor,
                action=action,
                target=target,
                result="failed",
                details={**details, "error": exc.message},
            )
        raise
