from __future__ import annotations

import pytest

from harbourmaster.vault import EnvelopeVault, Keyring, MasterKey

CANARY = "canary-5be1d0c7-Pa55w0rd!-VAULT"


@pytest.fixture
def key() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def vault(key: MasterKey) -> EnvelopeVault:
    return EnvelopeVault(Keyring(key))
