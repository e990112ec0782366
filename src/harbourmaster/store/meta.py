"""The ``meta`` table: small key/value facts (settings, the model revision, the allowlist, ...)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from harbourmaster.store.models import MetaRow

__all__ = ["get_meta", "set_meta"]


def get_meta(session: Session, key: str) -> dict[str, object] | None:
    """The value of the ``meta`` row ``key``, or None."""
    row = session.get(MetaRow, key)
    return dict(row.value) if row is not None else None


def set_meta(session: Session, key: str, value: dict[str, object]) -> None:
    """Set the ``meta`` row ``key`` to ``value`` in the caller's transaction."""
    row = session.get(MetaRow, key)
    if row is None:
        session.add(MetaRow(key=key, value=value))
    else:
        row.value = value
