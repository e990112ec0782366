"""The real envelope vault over a keyring held in memory: no key file, no environment variable."""

from __future__ import annotations

from harbourmaster.vault.envelope import EnvelopeVault
from harbourmaster.vault.keys import Keyring, MasterKey

__all__ = ["memory_vault"]


def memory_vault() -> EnvelopeVault:
    """An :class:`EnvelopeVault` under a fresh master key that exists only in this process."""
    return EnvelopeVault(Keyring(MasterKey.generate(), source="memory"))
