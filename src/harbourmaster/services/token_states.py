"""When the provider tokens this process minted expire (ECR, ACR, GAR exchange a stored credential for a
short-lived token at each pull): kept in memory for the ``harbourmaster_credential_expiry_seconds``
metric.  Times only, never a token."""

from __future__ import annotations

import datetime as dt
import threading

__all__ = ["minted_tokens", "record_token"]

_tokens: dict[str, dt.datetime] = {}
_lock = threading.Lock()


def record_token(registry: str, expires_at: float | None) -> None:
    """Remember when the token last minted for ``registry`` expires (a Unix time; None: not known)."""
    if expires_at is None:
        return
    with _lock:
        _tokens[registry] = dt.datetime.fromtimestamp(expires_at, dt.UTC)


def minted_tokens() -> dict[str, dt.datetime]:
    """Registry -> when its last minted token expires."""
    with _lock:
        return dict(_tokens)
