"""The in-memory signing repository: vault signing keys and cached verification verdicts."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from harbourmaster.store.interface import Rewrap, SigningRepository
from harbourmaster.store.values import (
    SIGNING_KEY_FIELD,
    CachedVerification,
    StoredSigningKey,
    signing_key_record,
)

__all__ = ["MemorySigningRepository", "SigningTables"]


@dataclass
class SigningTables:
    keys: dict[str, tuple[StoredSigningKey, bytes]] = field(default_factory=dict)
    verifications: dict[tuple[str, str], CachedVerification] = field(default_factory=dict)


class MemorySigningRepository(SigningRepository):
    def __init__(self, tables: SigningTables) -> None:
        self._t = tables

    def add_key(self, key: StoredSigningKey, *, sealed: bytes) -> bool:
        if key.name in self._t.keys:
            return False
        self._t.keys[key.name] = (key, bytes(sealed))
        return True

    def list_keys(self) -> list[StoredSigningKey]:
        return [key for _, (key, _) in sorted(self._t.keys.items())]

    def sealed_key(self, name: str) -> tuple[StoredSigningKey, bytes] | None:
        return self._t.keys.get(name)

    def rewrap(self, rewrap: Rewrap) -> int:
        for name, (key, sealed) in list(self._t.keys.items()):
            self._t.keys[name] = (key, rewrap(signing_key_record(name), SIGNING_KEY_FIELD, sealed))
        return len(self._t.keys)

    def cached(self, image_digest: str, trust_fingerprint: str) -> CachedVerification | None:
        return self._t.verifications.get((image_digest, trust_fingerprint))

    def cached_many(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], CachedVerification]:
        return {key: self._t.verifications[key] for key in set(keys) if key in self._t.verifications}

    def cache(self, verification: CachedVerification) -> None:
        self._t.verifications[(verification.image_digest, verification.trust_fingerprint)] = verification

    def forget(self, image_digest: str) -> int:
        gone = [k for k in self._t.verifications if k[0] == image_digest]
        for k in gone:
            del self._t.verifications[k]
        return len(gone)
